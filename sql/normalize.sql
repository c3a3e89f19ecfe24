-- A log under the default column names and types of DESIGN.md, as a view over the raw source.
-- Slots: {columns} the converted columns, each `expression AS "default_name"` (identifiers of
-- the user's log are quoted; conversions chosen from the column's type); {source} the raw relation.
SELECT {columns}
FROM {source}
