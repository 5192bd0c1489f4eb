-- A version-3 usage-async database (sqlite), as usage-async at commit 680070f created it:
-- migration_plan(SCHEMA, 0, SQLITE). One statement per block, blocks separated by ';\n\n'.
CREATE TABLE usage_async_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

CREATE TABLE usage_async_state (
    endpoint TEXT NOT NULL,
    bucket_width TEXT NOT NULL,
    group_by TEXT NOT NULL,
    since INTEGER NOT NULL,
    watermark INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (endpoint, bucket_width, group_by)
) WITHOUT ROWID;

CREATE TABLE usage_async_unknown (
    endpoint TEXT NOT NULL,
    bucket_width TEXT NOT NULL,
    group_by TEXT NOT NULL,
    start_time INTEGER NOT NULL,
    end_time INTEGER NOT NULL,
    object TEXT,
    digest TEXT NOT NULL,
    data TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    PRIMARY KEY (endpoint, bucket_width, group_by, start_time, digest)
) WITHOUT ROWID;

CREATE TABLE "completions" (
    start_time INTEGER NOT NULL,
    end_time INTEGER NOT NULL,
    bucket_width TEXT NOT NULL,
    group_by TEXT NOT NULL,
    "project_id" TEXT NOT NULL DEFAULT '',
    "user_id" TEXT NOT NULL DEFAULT '',
    "api_key_id" TEXT NOT NULL DEFAULT '',
    "model" TEXT NOT NULL DEFAULT '',
    "batch" TEXT NOT NULL DEFAULT '',
    "service_tier" TEXT NOT NULL DEFAULT '',
    "input_tokens" INTEGER,
    "output_tokens" INTEGER,
    "num_model_requests" INTEGER,
    "input_cached_tokens" INTEGER,
    "input_cache_write_tokens" INTEGER,
    "input_uncached_tokens" INTEGER,
    "input_text_tokens" INTEGER,
    "output_text_tokens" INTEGER,
    "input_cached_text_tokens" INTEGER,
    "input_audio_tokens" INTEGER,
    "input_cached_audio_tokens" INTEGER,
    "output_audio_tokens" INTEGER,
    "input_image_tokens" INTEGER,
    "input_cached_image_tokens" INTEGER,
    "output_image_tokens" INTEGER,
    settled INTEGER NOT NULL,
    fetched_at INTEGER NOT NULL,
    read_at INTEGER NOT NULL DEFAULT 0,
    missing_since INTEGER,
    PRIMARY KEY ("bucket_width", "group_by", "start_time", "project_id", "user_id", "api_key_id", "model", "batch", "service_tier")
) WITHOUT ROWID;

CREATE TABLE "embeddings" (
    start_time INTEGER NOT NULL,
    end_time INTEGER NOT NULL,
    bucket_width TEXT NOT NULL,
    group_by TEXT NOT NULL,
    "project_id" TEXT NOT NULL DEFAULT '',
    "user_id" TEXT NOT NULL DEFAULT '',
    "api_key_id" TEXT NOT NULL DEFAULT '',
    "model" TEXT NOT NULL DEFAULT '',
    "input_tokens" INTEGER,
    "num_model_requests" INTEGER,
    settled INTEGER NOT NULL,
    fetched_at INTEGER NOT NULL,
    read_at INTEGER NOT NULL DEFAULT 0,
    missing_since INTEGER,
    PRIMARY KEY ("bucket_width", "group_by", "start_time", "project_id", "user_id", "api_key_id", "model")
) WITHOUT ROWID;

CREATE TABLE "moderations" (
    start_time INTEGER NOT NULL,
    end_time INTEGER NOT NULL,
    bucket_width TEXT NOT NULL,
    group_by TEXT NOT NULL,
    "project_id" TEXT NOT NULL DEFAULT '',
    "user_id" TEXT NOT NULL DEFAULT '',
    "api_key_id" TEXT NOT NULL DEFAULT '',
    "model" TEXT NOT NULL DEFAULT '',
    "input_tokens" INTEGER,
    "num_model_requests" INTEGER,
    settled INTEGER NOT NULL,
    fetched_at INTEGER NOT NULL,
    read_at INTEGER NOT NULL DEFAULT 0,
    missing_since INTEGER,
    PRIMARY KEY ("bucket_width", "group_by", "start_time", "project_id", "user_id", "api_key_id", "model")
) WITHOUT ROWID;

CREATE TABLE "images" (
    start_time INTEGER NOT NULL,
    end_time INTEGER NOT NULL,
    bucket_width TEXT NOT NULL,
    group_by TEXT NOT NULL,
    "project_id" TEXT NOT NULL DEFAULT '',
    "user_id" TEXT NOT NULL DEFAULT '',
    "api_key_id" TEXT NOT NULL DEFAULT '',
    "model" TEXT NOT NULL DEFAULT '',
    "size" TEXT NOT NULL DEFAULT '',
    "source" TEXT NOT NULL DEFAULT '',
    "images" INTEGER,
    "num_model_requests" INTEGER,
    settled INTEGER NOT NULL,
    fetched_at INTEGER NOT NULL,
    read_at INTEGER NOT NULL DEFAULT 0,
    missing_since INTEGER,
    PRIMARY KEY ("bucket_width", "group_by", "start_time", "project_id", "user_id", "api_key_id", "model", "size", "source")
) WITHOUT ROWID;

CREATE TABLE "audio_speeches" (
    start_time INTEGER NOT NULL,
    end_time INTEGER NOT NULL,
    bucket_width TEXT NOT NULL,
    group_by TEXT NOT NULL,
    "project_id" TEXT NOT NULL DEFAULT '',
    "user_id" TEXT NOT NULL DEFAULT '',
    "api_key_id" TEXT NOT NULL DEFAULT '',
    "model" TEXT NOT NULL DEFAULT '',
    "characters" INTEGER,
    "num_model_requests" INTEGER,
    settled INTEGER NOT NULL,
    fetched_at INTEGER NOT NULL,
    read_at INTEGER NOT NULL DEFAULT 0,
    missing_since INTEGER,
    PRIMARY KEY ("bucket_width", "group_by", "start_time", "project_id", "user_id", "api_key_id", "model")
) WITHOUT ROWID;

CREATE TABLE "audio_transcriptions" (
    start_time INTEGER NOT NULL,
    end_time INTEGER NOT NULL,
    bucket_width TEXT NOT NULL,
    group_by TEXT NOT NULL,
    "project_id" TEXT NOT NULL DEFAULT '',
    "user_id" TEXT NOT NULL DEFAULT '',
    "api_key_id" TEXT NOT NULL DEFAULT '',
    "model" TEXT NOT NULL DEFAULT '',
    "seconds" INTEGER,
    "num_model_requests" INTEGER,
    settled INTEGER NOT NULL,
    fetched_at INTEGER NOT NULL,
    read_at INTEGER NOT NULL DEFAULT 0,
    missing_since INTEGER,
    PRIMARY KEY ("bucket_width", "group_by", "start_time", "project_id", "user_id", "api_key_id", "model")
) WITHOUT ROWID;

CREATE TABLE "vector_stores" (
    start_time INTEGER NOT NULL,
    end_time INTEGER NOT NULL,
    bucket_width TEXT NOT NULL,
    group_by TEXT NOT NULL,
    "project_id" TEXT NOT NULL DEFAULT '',
    "usage_bytes" INTEGER,
    settled INTEGER NOT NULL,
    fetched_at INTEGER NOT NULL,
    read_at INTEGER NOT NULL DEFAULT 0,
    missing_since INTEGER,
    PRIMARY KEY ("bucket_width", "group_by", "start_time", "project_id")
) WITHOUT ROWID;

CREATE TABLE "code_interpreter_sessions" (
    start_time INTEGER NOT NULL,
    end_time INTEGER NOT NULL,
    bucket_width TEXT NOT NULL,
    group_by TEXT NOT NULL,
    "project_id" TEXT NOT NULL DEFAULT '',
    "num_sessions" INTEGER,
    settled INTEGER NOT NULL,
    fetched_at INTEGER NOT NULL,
    read_at INTEGER NOT NULL DEFAULT 0,
    missing_since INTEGER,
    PRIMARY KEY ("bucket_width", "group_by", "start_time", "project_id")
) WITHOUT ROWID;

CREATE TABLE "file_search_calls" (
    start_time INTEGER NOT NULL,
    end_time INTEGER NOT NULL,
    bucket_width TEXT NOT NULL,
    group_by TEXT NOT NULL,
    "project_id" TEXT NOT NULL DEFAULT '',
    "user_id" TEXT NOT NULL DEFAULT '',
    "api_key_id" TEXT NOT NULL DEFAULT '',
    "vector_store_id" TEXT NOT NULL DEFAULT '',
    "num_requests" INTEGER,
    settled INTEGER NOT NULL,
    fetched_at INTEGER NOT NULL,
    read_at INTEGER NOT NULL DEFAULT 0,
    missing_since INTEGER,
    PRIMARY KEY ("bucket_width", "group_by", "start_time", "project_id", "user_id", "api_key_id", "vector_store_id")
) WITHOUT ROWID;

CREATE TABLE "web_search_calls" (
    start_time INTEGER NOT NULL,
    end_time INTEGER NOT NULL,
    bucket_width TEXT NOT NULL,
    group_by TEXT NOT NULL,
    "project_id" TEXT NOT NULL DEFAULT '',
    "user_id" TEXT NOT NULL DEFAULT '',
    "api_key_id" TEXT NOT NULL DEFAULT '',
    "model" TEXT NOT NULL DEFAULT '',
    "context_level" TEXT NOT NULL DEFAULT '',
    "num_model_requests" INTEGER,
    "num_requests" INTEGER,
    settled INTEGER NOT NULL,
    fetched_at INTEGER NOT NULL,
    read_at INTEGER NOT NULL DEFAULT 0,
    missing_since INTEGER,
    PRIMARY KEY ("bucket_width", "group_by", "start_time", "project_id", "user_id", "api_key_id", "model", "context_level")
) WITHOUT ROWID;

CREATE TABLE "costs" (
    start_time INTEGER NOT NULL,
    end_time INTEGER NOT NULL,
    bucket_width TEXT NOT NULL,
    group_by TEXT NOT NULL,
    "project_id" TEXT NOT NULL DEFAULT '',
    "line_item" TEXT NOT NULL DEFAULT '',
    "api_key_id" TEXT NOT NULL DEFAULT '',
    "amount_value" TEXT,
    "amount_currency" TEXT,
    "quantity" TEXT,
    "quantity_unit" TEXT,
    settled INTEGER NOT NULL,
    fetched_at INTEGER NOT NULL,
    read_at INTEGER NOT NULL DEFAULT 0,
    missing_since INTEGER,
    PRIMARY KEY ("bucket_width", "group_by", "start_time", "project_id", "line_item", "api_key_id")
) WITHOUT ROWID;

CREATE TABLE usage_async_projects (
    id TEXT PRIMARY KEY,
    "name" TEXT,
    "status" TEXT,
    "archived" INTEGER,
    "archived_at" INTEGER,
    "created_at" INTEGER,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    deleted_at INTEGER
) WITHOUT ROWID;

CREATE TABLE usage_async_users (
    id TEXT PRIMARY KEY,
    "email" TEXT,
    "name" TEXT,
    "role" TEXT,
    "added_at" INTEGER,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    deleted_at INTEGER
) WITHOUT ROWID;

CREATE TABLE usage_async_api_keys (
    id TEXT PRIMARY KEY,
    "name" TEXT,
    "redacted_value" TEXT,
    "project_id" TEXT,
    "owner_type" TEXT,
    "owner_id" TEXT,
    "owner_name" TEXT,
    "created_at" INTEGER,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    deleted_at INTEGER
) WITHOUT ROWID;

CREATE TABLE usage_async_service_accounts (
    id TEXT PRIMARY KEY,
    "name" TEXT,
    "project_id" TEXT,
    "role" TEXT,
    "created_at" INTEGER,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    deleted_at INTEGER
) WITHOUT ROWID;

DELETE FROM usage_async_meta WHERE key = 'schema_version';

INSERT INTO usage_async_meta (key, value) VALUES ('schema_version', '3');
