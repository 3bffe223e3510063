-- Version 0010 belongs to another change; this file keeps the versions
-- consecutive until it lands and replaces it.
SELECT 1;
