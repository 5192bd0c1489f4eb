"""The command line's names and exit codes: plain constants, cheap to import, so that
``main`` can catch Ctrl-C from the very start of the program."""

PROG = "usage-async"
API_KEY_ENV = "OPENAI_ADMIN_KEY"
BASE_URL_ENV = "OPENAI_BASE_URL"  # as the official SDK reads it
ORGANIZATION_ENV = "OPENAI_ORG_ID"
DB_ENV = "USAGE_ASYNC_DB"  # the default --db of sync and query

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports Ctrl-C
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as a shell reports `yes | head -1`
