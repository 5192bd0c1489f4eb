-- A version-3 usage-async database (postgresql), as usage-async at commit 680070f created it:
-- migration_plan(SCHEMA, 0, POSTGRES). One statement per block, blocks separated by ';\n\n'.
CREATE TABLE usage_async_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

CREATE TABLE usage_async_state (
    endpoint TEXT NOT NULL,
    bucket_width TEXT NOT NULL,
    group_by TEXT NOT NULL,
    since BIGINT NOT NULL,
    watermark BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (endpoint, bucket_width, group_by)
);

CREATE TABLE usage_async_unknown (
    endpoint TEXT NOT NULL,
    bucket_width TEXT NOT NULL,
    group_by TEXT NOT NULL,
    start_time BIGINT NOT NULL,
    end_time BIGINT NOT NULL,
    object TEXT,
    digest TEXT NOT NULL,
    data TEXT NOT NULL,
    first_seen BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    PRIMARY KEY (endpoint, bucket_width, group_by, start_time, digest)
);

CREATE TABLE "completions" (
    start_time BIGINT NOT NULL,
    end_time BIGINT NOT NULL,
    bucket_width TEXT NOT NULL,
    group_by TEXT NOT NULL,
    "project_id" TEXT NOT NULL DEFAULT '',
    "user_id" TEXT NOT NULL DEFAULT '',
    "api_key_id" TEXT NOT NULL DEFAULT '',
    "model" TEXT NOT NULL DEFAULT '',
    "batch" TEXT NOT NULL DEFAULT '',
    "service_tier" TEXT NOT NULL DEFAULT '',
    "input_tokens" BIGINT,
    "output_tokens" BIGINT,
    "num_model_requests" BIGINT,
    "input_cached_tokens" BIGINT,
    "input_cache_write_tokens" BIGINT,
    "input_uncached_tokens" BIGINT,
    "input_text_tokens" BIGINT,
    "output_text_tokens" BIGINT,
    "input_cached_text_tokens" BIGINT,
    "input_audio_tokens" BIGINT,
    "input_cached_audio_tokens" BIGINT,
    "output_audio_tokens" BIGINT,
    "input_image_tokens" BIGINT,
    "input_cached_image_tokens" BIGINT,
    "output_image_tokens" BIGINT,
    settled BOOLEAN NOT NULL,
    fetched_at BIGINT NOT NULL,
    read_at BIGINT NOT NULL DEFAULT 0,
    missing_since BIGINT,
    PRIMARY KEY ("bucket_width", "group_by", "start_time", "project_id", "user_id", "api_key_id", "model", "batch", "service_tier")
);

CREATE TABLE "embeddings" (
    start_time BIGINT NOT NULL,
    end_time BIGINT NOT NULL,
    bucket_width TEXT NOT NULL,
    group_by TEXT NOT NULL,
    "project_id" TEXT NOT NULL DEFAULT '',
    "user_id" TEXT NOT NULL DEFAULT '',
    "api_key_id" TEXT NOT NULL DEFAULT '',
    "model" TEXT NOT NULL DEFAULT '',
    "input_tokens" BIGINT,
    "num_model_requests" BIGINT,
    settled BOOLEAN NOT NULL,
    fetched_at BIGINT NOT NULL,
    read_at BIGINT NOT NULL DEFAULT 0,
    missing_since BIGINT,
    PRIMARY KEY ("bucket_width", "group_by", "start_time", "project_id", "user_id", "api_key_id", "model")
);

CREATE TABLE "moderations" (
    start_time BIGINT NOT NULL,
    end_time BIGINT NOT NULL,
    bucket_width TEXT NOT NULL,
    group_by TEXT NOT NULL,
    "project_id" TEXT NOT NULL DEFAULT '',
    "user_id" TEXT NOT NULL DEFAULT '',
    "api_key_id" TEXT NOT NULL DEFAULT '',
    "model" TEXT NOT NULL DEFAULT '',
    "input_tokens" BIGINT,
    "num_model_requests" BIGINT,
    settled BOOLEAN NOT NULL,
    fetched_at BIGINT NOT NULL,
    read_at BIGINT NOT NULL DEFAULT 0,
    missing_since BIGINT,
    PRIMARY KEY ("bucket_width", "group_by", "start_time", "project_id", "user_id", "api_key_id", "model")
);

CREATE TABLE "images" (
    start_time BIGINT NOT NULL,
    end_time BIGINT NOT NULL,
    bucket_width TEXT NOT NULL,
    group_by TEXT NOT NULL,
    "project_id" TEXT NOT NULL DEFAULT '',
    "user_id" TEXT NOT NULL DEFAULT '',
    "api_key_id" TEXT NOT NULL DEFAULT '',
    "model" TEXT NOT NULL DEFAULT '',
    "size" TEXT NOT NULL DEFAULT '',
    "source" TEXT NOT NULL DEFAULT '',
    "images" BIGINT,
    "num_model_requests" BIGINT,
    settled BOOLEAN NOT NULL,
    fetched_at BIGINT NOT NULL,
    read_at BIGINT NOT NULL DEFAULT 0,
    missing_since BIGINT,
    PRIMARY KEY ("bucket_width", "group_by", "start_time", "project_id", "user_id", "api_key_id", "model", "size", "source")
);

CREATE TABLE "audio_speeches" (
    start_time BIGINT NOT NULL,
    end_time BIGINT NOT NULL,
    bucket_width TEXT NOT NULL,
    group_by TEXT NOT NULL,
    "project_id" TEXT NOT NULL DEFAULT '',
    "user_id" TEXT NOT NULL DEFAULT '',
    "api_key_id" TEXT NOT NULL DEFAULT '',
    "model" TEXT NOT NULL DEFAULT '',
    "characters" BIGINT,
    "num_model_requests" BIGINT,
    settled BOOLEAN NOT NULL,
    fetched_at BIGINT NOT NULL,
    read_at BIGINT NOT NULL DEFAULT 0,
    missing_since BIGINT,
    PRIMARY KEY ("bucket_width", "group_by", "start_time", "project_id", "user_id", "api_key_id", "model")
);

CREATE TABLE "audio_transcriptions" (
    start_time BIGINT NOT NULL,
    end_time BIGINT NOT NULL,
    bucket_width TEXT NOT NULL,
    group_by TEXT NOT NULL,
    "project_id" TEXT NOT NULL DEFAULT '',
    "user_id" TEXT NOT NULL DEFAULT '',
    "api_key_id" TEXT NOT NULL DEFAULT '',
    "model" TEXT NOT NULL DEFAULT '',
    "seconds" BIGINT,
    "num_model_requests" BIGINT,
    settled BOOLEAN NOT NULL,
    fetched_at BIGINT NOT NULL,
    read_at BIGINT NOT NULL DEFAULT 0,
    missing_since BIGINT,
    PRIMARY KEY ("bucket_width", "group_by", "start_time", "project_id", "user_id", "api_key_id", "model")
);

CREATE TABLE "vector_stores" (
    start_time BIGINT NOT NULL,
    end_time BIGINT NOT NULL,
    bucket_width TEXT NOT NULL,
    group_by TEXT NOT NULL,
    "project_id" TEXT NOT NULL DEFAULT '',
    "usage_bytes" BIGINT,
    settled BOOLEAN NOT NULL,
    fetched_at BIGINT NOT NULL,
    read_at BIGINT NOT NULL DEFAULT 0,
    missing_since BIGINT,
    PRIMARY KEY ("bucket_width", "group_by", "start_time", "project_id")
);

CREATE TABLE "code_interpreter_sessions" (
    start_time BIGINT NOT NULL,
    end_time BIGINT NOT NULL,
    bucket_width TEXT NOT NULL,
    group_by TEXT NOT NULL,
    "project_id" TEXT NOT NULL DEFAULT '',
    "num_sessions" BIGINT,
    settled BOOLEAN NOT NULL,
    fetched_at BIGINT NOT NULL,
    read_at BIGINT NOT NULL DEFAULT 0,
    missing_since BIGINT,
    PRIMARY KEY ("bucket_width", "group_by", "start_time", "project_id")
);

CREATE TABLE "file_search_calls" (
    start_time BIGINT NOT NULL,
    end_time BIGINT NOT NULL,
    bucket_width TEXT NOT NULL,
    group_by TEXT NOT NULL,
    "project_id" TEXT NOT NULL DEFAULT '',
    "user_id" TEXT NOT NULL DEFAULT '',
    "api_key_id" TEXT NOT NULL DEFAULT '',
    "vector_store_id" TEXT NOT NULL DEFAULT '',
    "num_requests" BIGINT,
    settled BOOLEAN NOT NULL,
    fetched_at BIGINT NOT NULL,
    read_at BIGINT NOT NULL DEFAULT 0,
    missing_since BIGINT,
    PRIMARY KEY ("bucket_width", "group_by", "start_time", "project_id", "user_id", "api_key_id", "vector_store_id")
);

CREATE TABLE "web_search_calls" (
    start_time BIGINT NOT NULL,
    end_time BIGINT NOT NULL,
    bucket_width TEXT NOT NULL,
    group_by TEXT NOT NULL,
    "project_id" TEXT NOT NULL DEFAULT '',
    "user_id" TEXT NOT NULL DEFAULT '',
    "api_key_id" TEXT NOT NULL DEFAULT '',
    "model" TEXT NOT NULL DEFAULT '',
    "context_level" TEXT NOT NULL DEFAULT '',
    "num_model_requests" BIGINT,
    "num_requests" BIGINT,
    settled BOOLEAN NOT NULL,
    fetched_at BIGINT NOT NULL,
    read_at BIGINT NOT NULL DEFAULT 0,
    missing_since BIGINT,
    PRIMARY KEY ("bucket_width", "group_by", "start_time", "project_id", "user_id", "api_key_id", "model", "context_level")
);

CREATE TABLE "costs" (
    start_time BIGINT NOT NULL,
    end_time BIGINT NOT NULL,
    bucket_width TEXT NOT NULL,
    group_by TEXT NOT NULL,
    "project_id" TEXT NOT NULL DEFAULT '',
    "line_item" TEXT NOT NULL DEFAULT '',
    "api_key_id" TEXT NOT NULL DEFAULT '',
    "amount_value" NUMERIC,
    "amount_currency" TEXT,
    "quantity" NUMERIC,
    "quantity_unit" TEXT,
    settled BOOLEAN NOT NULL,
    fetched_at BIGINT NOT NULL,
    read_at BIGINT NOT NULL DEFAULT 0,
    missing_since BIGINT,
    PRIMARY KEY ("bucket_width", "group_by", "start_time", "project_id", "line_item", "api_key_id")
);

CREATE TABLE usage_async_projects (
    id TEXT PRIMARY KEY,
    "name" TEXT,
    "status" TEXT,
    "archived" BOOLEAN,
    "archived_at" BIGINT,
    "created_at" BIGINT,
    first_seen BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    deleted_at BIGINT
);

CREATE TABLE usage_async_users (
    id TEXT PRIMARY KEY,
    "email" TEXT,
    "name" TEXT,
    "role" TEXT,
    "added_at" BIGINT,
    first_seen BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    deleted_at BIGINT
);

CREATE TABLE usage_async_api_keys (
    id TEXT PRIMARY KEY,
    "name" TEXT,
    "redacted_value" TEXT,
    "project_id" TEXT,
    "owner_type" TEXT,
    "owner_id" TEXT,
    "owner_name" TEXT,
    "created_at" BIGINT,
    first_seen BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    deleted_at BIGINT
);

CREATE TABLE usage_async_service_accounts (
    id TEXT PRIMARY KEY,
    "name" TEXT,
    "project_id" TEXT,
    "role" TEXT,
    "created_at" BIGINT,
    first_seen BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    deleted_at BIGINT
);

DELETE FROM usage_async_meta WHERE key = 'schema_version';

INSERT INTO usage_async_meta (key, value) VALUES ('schema_version', '3');
