"""Checked by mypy (never run): the directory's handles and snapshot are typed.

Each `# type: ignore[...]` line must be an error for mypy (`warn_unused_ignores`)."""

from __future__ import annotations

import usage_async as ua


async def accepted(client: ua.UsageClient) -> None:
    page: ua.ListPage[ua.Project] = await client.projects(include_archived=True)
    first: str | None = page.last_id
    del first
    async for project in client.projects.items():
        name: str | None = project.name
        del name
    keys: list[ua.ProjectApiKey] = await client.project_api_keys("proj_1").collect()
    for key in keys:
        if key.owner.service_account is not None:
            owner: str = key.owner.service_account.name
            del owner
    directory: ua.Directory = await client.directory(max_age=60)
    label: str = directory.api_key("key_1").label
    known: bool = directory.complete["users"]
    check: ua.KeyCheck = await client.check()
    del label, known, check


async def refused(client: ua.UsageClient) -> None:
    async for user in client.users.items():
        user.redacted_value  # type: ignore[attr-defined]  # noqa: B018
    keys = await client.admin_api_keys.collect()
    keys[0].owner_project_access  # type: ignore[attr-defined]  # noqa: B018
