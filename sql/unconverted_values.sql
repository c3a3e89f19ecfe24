-- Up to three values of a log's column that cannot be converted (an unparseable timestamp, a
-- non-number in a CSV column detected as numeric), quoted in the error message.
-- Slots: {raw} the log's column; {converted} its conversion (null when a value does not
-- convert); {source} the raw relation.
SELECT DISTINCT CAST({raw} AS {dialect.text_type})
FROM {source}
WHERE {raw} IS NOT NULL AND {converted} IS NULL
ORDER BY 1
LIMIT 3
