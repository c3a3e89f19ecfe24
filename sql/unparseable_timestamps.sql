-- Up to three timestamp values of a log that cannot be parsed, quoted in the error message
-- (the first three in text order, so that the message is the same on every run).
-- Slots: {raw} the log's timestamp column; {converted} its conversion to a timestamp (null when
-- it cannot be parsed); {source} the raw relation.
SELECT DISTINCT CAST({raw} AS {dialect.text_type})
FROM {source}
WHERE {raw} IS NOT NULL AND {converted} IS NULL
ORDER BY 1
LIMIT 3
