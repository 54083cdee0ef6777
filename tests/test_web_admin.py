"""The admin's user page: add, change role, disable, set a password, withdraw API tokens. Disabling or a
new password ends that person's sessions at once; only admins reach the page; the last admin stays."""

from __future__ import annotations

from fastapi.testclient import TestClient

from pim.store import Store
from pim.web.accounts import add_user, authenticate, create_token, list_users
from pim.web.app import create_app
from tests.test_web_ui import cheap_argon2, client, csrf, login  # noqa: F401  (fixtures)


def _admin(store: Store) -> tuple[TestClient, str]:
    add_user(store, "ada", "admin pass 1", "admin")
    web = TestClient(create_app(store))
    return web, login(web, "ada", "admin pass 1")


def _post(web: TestClient, token: str, path: str, **data: str):  # noqa: ANN202
    return web.post(path, data={"csrf_token": token, **data})


def _user(store: Store, name: str) -> dict:
    return next(u for u in list_users(store) if u["username"] == name)


def test_only_admins_reach_the_page(client: TestClient, store: Store) -> None:  # noqa: F811
    login(client)  # ed, an editor
    assert client.get("/admin/users").status_code == 403
    assert "/admin/users" not in client.get("/products").text
    web, _ = _admin(store)
    page = web.get("/admin/users")
    assert page.status_code == 200 and 'data-user="ed"' in page.text and 'data-user="vi"' in page.text
    assert 'href="/admin/users"' in web.get("/products").text


def test_add_a_user_and_change_their_role(client: TestClient, store: Store) -> None:  # noqa: F811
    web, token = _admin(store)
    made = _post(web, token, "/admin/users", username="cy", password="cy password", role="viewer")
    assert made.status_code == 200 and "cy can sign in as viewer" in made.text
    assert _post(web, token, "/admin/users", username="cy", password="cy password", role="viewer").status_code == 422
    assert "password too short" in _post(web, token, "/admin/users", username="dee", password="short").text
    assert _post(web, token, "/admin/users/cy", action="role", role="editor").status_code == 200
    assert _user(store, "cy")["role"] == "editor"
    assert web.post("/admin/users/cy", data={"action": "role", "role": "admin"}).status_code == 403  # no CSRF token


def test_disabling_or_a_new_password_ends_that_persons_sessions(client: TestClient, store: Store) -> None:  # noqa: F811
    login(client)  # ed's browser
    assert client.get("/products", follow_redirects=False).status_code == 200
    web, token = _admin(store)
    assert "their open sessions have ended" in _post(web, token, "/admin/users/ed", action="password",
                                                     password="another horse").text
    assert client.get("/products", follow_redirects=False).status_code == 303  # signed out
    login(client, "ed", "another horse")
    ed = authenticate(store, "ed", "another horse")
    assert ed is not None
    api = create_token(store, ed)
    assert client.get("/api/v1/products", headers={"Authorization": f"Bearer {api}"}).status_code == 200
    _post(web, token, "/admin/users/ed", action="disable")
    assert client.get("/products", follow_redirects=False).status_code == 303
    assert client.get("/api/v1/products", headers={"Authorization": f"Bearer {api}"}).status_code == 401
    _post(web, token, "/admin/users/ed", action="enable")
    assert _post(web, token, "/admin/users/ed", action="revoke_tokens").text.count("1 API token of ed withdrawn") == 1
    assert _user(store, "ed")["tokens"] == 0


def test_the_last_active_admin_cannot_be_disabled_or_demoted(client: TestClient, store: Store) -> None:  # noqa: F811
    web, token = _admin(store)
    refused = _post(web, token, "/admin/users/ada", action="disable")
    assert refused.status_code == 422 and "last active admin" in refused.text
    assert _post(web, token, "/admin/users/ada", action="role", role="viewer").status_code == 422
    assert _user(store, "ada") == {**_user(store, "ada"), "role": "admin", "active": True}
    _post(web, token, "/admin/users/ed", action="role", role="admin")
    own = web.post("/admin/users/ada", data={"csrf_token": token, "action": "role", "role": "editor"},
                   follow_redirects=False)
    assert (own.status_code, own.headers["location"]) == (303, "/login")  # another admin exists now
    assert _user(store, "ada")["role"] == "editor"


def test_user_commands_list_role_password_disable(store: Store, pim_env) -> None:  # noqa: ANN001
    import json

    import typer
    from typer.testing import CliRunner

    from pim.cli import users
    from pim.errors import InputError

    root = typer.Typer()
    users.register(root)
    runner = CliRunner()
    add_user(store, "ada", "admin pass 1", "admin")
    add_user(store, "bo", "bo password", "viewer")
    listed = json.loads(runner.invoke(root, ["users", "list", "--json"]).output)
    assert [(u["username"], u["role"], u["active"]) for u in listed] == [("ada", "admin", True), ("bo", "viewer", True)]
    assert runner.invoke(root, ["users", "role", "bo", "editor"]).exit_code == 0
    assert runner.invoke(root, ["users", "password", "bo", "--password", "bo new password"]).exit_code == 0
    assert authenticate(store, "bo", "bo new password").role == "editor"  # type: ignore[union-attr]
    assert runner.invoke(root, ["users", "disable", "bo"]).exit_code == 0
    assert authenticate(store, "bo", "bo new password") is None
    refused = runner.invoke(root, ["users", "disable", "ada"])
    assert isinstance(refused.exception, InputError) and "last active admin" in str(refused.exception)
