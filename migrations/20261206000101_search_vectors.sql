-- Full-text search (issue 11): a stored tsvector per searchable row, each with a GIN index.
-- The `simple` configuration (lower-cased words, no stemming, no stop words): content arrives
-- in every language, and English stemming would mangle the others. Title and name words weigh
-- more (A) than body words (B), so ts_rank puts a title match above a body mention.
--
-- Generated columns: computed on insert and on an edit of their source columns only, never on
-- other updates (votes, counters). On the comment insert path this adds one to_tsvector and
-- one GIN insert (buffered in the index's pending list) per reply; see BENCHMARKS.md (inbox).

ALTER TABLE post ADD COLUMN search tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('simple', title), 'A')
    || setweight(to_tsvector('simple', coalesce(body, '')), 'B')
) STORED;
CREATE INDEX post_search ON post USING gin (search);

ALTER TABLE comment ADD COLUMN search tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('simple', content), 'B')
) STORED;
CREATE INDEX comment_search ON comment USING gin (search);

ALTER TABLE community ADD COLUMN search tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('simple', name || ' ' || title), 'A')
    || setweight(to_tsvector('simple', coalesce(description, '')), 'B')
) STORED;
CREATE INDEX community_search ON community USING gin (search);

ALTER TABLE person ADD COLUMN search tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('simple', name || ' ' || coalesce(display_name, '')), 'A')
    || setweight(to_tsvector('simple', coalesce(bio, '')), 'B')
) STORED;
CREATE INDEX person_search ON person USING gin (search);
