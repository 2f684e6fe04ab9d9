"""Meta-test: every web request a test makes has its status code asserted.

A test that reads text off a response without asserting its status can pass on an error page
(the badges admin page answered 500 for a release while its test found the words it wanted in
the flash message drawn on the error page). The test client now raises on any 5xx, but a 403
or a 404 page has text on it too, so every test also says which status it expects.

How the check works (static, over the source: it needs no test to run):

1. **Requests.** A call ``X.get/post/put/patch/delete/head/options/open(...)`` is a request
   when ``X`` names a client (its source mentions ``client`` or ``api``, as in ``client``,
   ``world.client``, ``admin_api``, ``app.test_client()``) or when its first argument looks
   like an address (a string or f-string starting with ``/``, or a variable named ``url``,
   ``path``, ``href``, ``location`` ...). ``page.goto(...)`` (Playwright) is a page load, so a
   request too. A function that *returns* a request's response (``AuthActions.login``,
   ``Api.get``) is a request helper: calling it is a request, and the caller must check it;
   a class with such a method named like a verb (``World.get``) makes an instance named after
   it (``world.get(...)``) a client.
2. **Checks.** A request is checked when its ``.status_code`` (``.status`` or ``.ok`` for
   Playwright) is read inside an ``assert``; or the response goes to a *checker*, a function
   that asserts on its argument's ``.status_code`` (``is_problem(response, 404)``); or the
   response is bound to a name (``response = client.get(...)``, ``for response in (...)``) and
   that name is checked before it is bound again; or ``.status_code`` is stored in a name that
   a later ``assert`` reads (``statuses = [client.get(u).status_code for u in urls]``); or the
   request runs inside ``with pytest.raises(...)``, where the test asserts the failure.
3. **Escape hatch.** A line ending in ``# status: <why>`` is accepted (the crawl test, which
   accepts any status below 500 and fails on 5xx through the client, is the one user).

It looks at every test module and conftest under ``tests/``, ``examples/*/tests`` and
``plugins/*/tests``, and at :mod:`lms_core.testing` (its helpers load pages too).
False negatives are possible (a request through a receiver named like neither a client nor
an address), false positives are rare; the self-tests below pin down both directions.
"""

from __future__ import annotations

import ast
import re
import textwrap
from collections.abc import Iterable
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

ROOT = Path(__file__).resolve().parent.parent

VERBS = frozenset({"get", "post", "put", "patch", "delete", "head", "options", "open"})
PAGE_LOADS = frozenset({"goto"})
STATUS_ATTRS = frozenset({"status_code", "status", "ok"})
CLIENT_RECEIVER = re.compile(r"client|(^|_|\.)api($|_|\b)", re.IGNORECASE)
ADDRESS_NAME = re.compile(r"url|path|href|location|link|address", re.IGNORECASE)
PRAGMA = re.compile(r"#\s*status:\s*\S")


@attrs.frozen
class Unchecked:
    path: str
    line: int
    function: str
    source: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line} in {self.function}(): {self.source}"


def scanned_files(root: Path = ROOT) -> list[Path]:
    """Every file whose functions make requests in tests."""
    files = {root / "lms_core" / "testing.py"}
    for base in ("tests", "examples", "plugins"):
        for path in (root / base).rglob("*.py"):
            parts = path.relative_to(root).parts
            if ".venv" in parts or "node_modules" in parts:
                continue
            in_tests = "tests" in parts[:-1]
            if in_tests and (path.name.startswith("test_") or path.name == "conftest.py"):
                files.add(path)
    return sorted(files)


# -- what is a request, what is a check ------------------------------------------------------


def _functions(tree: ast.AST) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


def _looks_like_address(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value.startswith("/")
    if isinstance(node, ast.JoinedStr) and node.values:
        first = node.values[0]
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            return first.value.startswith("/")
        # f"{base_url}/courses"
        return (
            len(node.values) > 1
            and isinstance(node.values[1], ast.Constant)
            and str(node.values[1].value).startswith("/")
        )
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _looks_like_address(node.left)
    if isinstance(node, ast.Name):
        return bool(ADDRESS_NAME.search(node.id))
    if isinstance(node, ast.Attribute):
        return bool(ADDRESS_NAME.search(node.attr))
    return False


@attrs.define
class Knowledge:
    """Names learnt from every scanned file: request helpers and checkers."""

    #: functions that return a request's response (called by name: ``fetch(client, url)``)
    helpers: set[str] = attrs.field(factory=set)
    #: methods that return a request's response (called on an object: ``auth.login(...)``)
    methods: set[str] = attrs.field(factory=set)
    #: functions that assert on an argument's status: name -> positional index
    checkers: dict[str, int] = attrs.field(factory=dict)
    #: lower-cased names of classes with a request helper method named like a verb
    #: (``World.get``): an instance named after its class (``world.get(...)``) is a client
    client_classes: set[str] = attrs.field(factory=set)
    #: (lower-cased class name, method) -> whether the method hands back a response whose
    #: status it did not check. On an instance named after its class (``world.login(...)``)
    #: this decides, not the method's name: ``World.login`` may assert its own status while
    #: ``AuthActions.login`` returns the response for its caller to check.
    class_methods: dict[tuple[str, str], bool] = attrs.field(factory=dict)

    def is_request(self, call: ast.Call) -> bool:
        func = call.func
        if isinstance(func, ast.Name):
            return func.id in self.helpers and func.id not in VERBS
        if not isinstance(func, ast.Attribute):
            return False
        if func.attr in PAGE_LOADS:
            return True
        known = self.class_methods.get((ast.unparse(func.value).lower(), func.attr))
        if known is not None:
            return known
        if func.attr in self.methods and func.attr not in VERBS:
            return True
        if func.attr not in VERBS:
            return False
        receiver = ast.unparse(func.value)
        if CLIENT_RECEIVER.search(receiver) or receiver.lower() in self.client_classes:
            return True
        return bool(call.args) and _looks_like_address(call.args[0])

    def checker_index(self, call: ast.Call) -> int | None:
        func = call.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        return self.checkers.get(name) if name else None


def _status_read_on(node: ast.AST, target: ast.AST) -> bool:
    """Whether ``node`` contains ``<target>.status_code`` (or another status attribute)."""
    return any(
        isinstance(sub, ast.Attribute) and sub.attr in STATUS_ATTRS and _same(sub.value, target)
        for sub in ast.walk(node)
    )


def _same(a: ast.AST, b: ast.AST) -> bool:
    if a is b:
        return True
    return isinstance(a, ast.Name) and isinstance(b, ast.Name) and a.id == b.id


def _passed_to_checker(node: ast.AST, target: ast.AST, know: Knowledge) -> bool:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):
            index = know.checker_index(sub)
            if index is not None and len(sub.args) > index and _same(sub.args[index], target):
                return True
    return False


def _learn(trees: Iterable[ast.AST]) -> Knowledge:
    know = Knowledge()
    trees = list(trees)
    for tree in trees:
        for fn in _functions(tree):
            params = [a.arg for a in (*fn.args.posonlyargs, *fn.args.args)]
            if params and params[0] in ("self", "cls"):
                params = params[1:]
            for index, param in enumerate(params):
                asserts = [n for n in ast.walk(fn) if isinstance(n, ast.Assert)]
                if any(_status_read_on(a.test, ast.Name(id=param)) for a in asserts):
                    know.checkers.setdefault(fn.name, index)
                    break
    # Request helpers, to a fixed point (a helper may call another helper).
    while True:
        before = (len(know.helpers), len(know.methods), len(know.client_classes))
        for tree in trees:
            methods = {
                fn
                for cls in ast.walk(tree)
                if isinstance(cls, ast.ClassDef)
                for fn in cls.body
                if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef)
            }
            for fn in _functions(tree):
                if not _returns_a_response(fn, know):
                    continue
                (know.methods if fn in methods else know.helpers).add(fn.name)
            for cls in ast.walk(tree):
                if isinstance(cls, ast.ClassDef):
                    for fn in cls.body:
                        if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                            know.class_methods[(cls.name.lower(), fn.name)] = _returns_a_response(
                                fn, know
                            )
            for cls in ast.walk(tree):
                if isinstance(cls, ast.ClassDef) and any(
                    isinstance(fn, ast.FunctionDef)
                    and fn.name in VERBS
                    and _returns_a_response(fn, know)
                    for fn in cls.body
                ):
                    know.client_classes.add(cls.name.lower())
        if (len(know.helpers), len(know.methods), len(know.client_classes)) == before:
            return know


def _returns_a_response(fn: ast.FunctionDef | ast.AsyncFunctionDef, know: Knowledge) -> bool:
    """Whether ``fn`` hands back a request's response whose status it did not assert itself
    (a helper that asserts the status before returning the response checks it for its
    callers)."""
    bound: set[str] = set()
    for node in ast.walk(fn):
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Call)
            and know.is_request(node.value)
        ):
            bound |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    for node in ast.walk(fn):
        if isinstance(node, ast.Return) and node.value is not None:
            value = node.value
            if isinstance(value, ast.Call) and know.is_request(value):
                return True
            if isinstance(value, ast.Name) and value.id in bound:
                target = ast.Name(id=value.id)
                asserted = any(
                    isinstance(n, ast.Assert) and _status_read_on(n.test, target)
                    for n in ast.walk(fn)
                )
                if not asserted:
                    return True
    return False


# -- the walk over one function ---------------------------------------------------------------


def _parents(fn: ast.AST) -> dict[ast.AST, ast.AST]:
    return {child: node for node in ast.walk(fn) for child in ast.iter_child_nodes(node)}


def _statement_of(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> ast.stmt:
    while not isinstance(node, ast.stmt):
        node = parents[node]
    return node


def _inside_pytest_raises(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.With):
            for item in node.items:
                expr = item.context_expr
                if isinstance(expr, ast.Call) and ast.unparse(expr.func) == "pytest.raises":
                    return True
    return False


def _name_checked_after(
    fn: ast.AST, name: str, after: int, know: Knowledge, *, status_value: bool = False
) -> bool:
    """Whether ``name`` (bound on line ``after``) is checked before it is bound again.

    With ``status_value`` the name holds status codes already, so any ``assert`` that reads
    it counts.
    """
    rebound = min(
        (
            node.lineno
            for node in ast.walk(fn)
            if isinstance(node, ast.Name)
            and node.id == name
            and isinstance(node.ctx, ast.Store)
            and node.lineno > after
        ),
        default=10**9,
    )
    target = ast.Name(id=name)
    for node in ast.walk(fn):
        if not hasattr(node, "lineno") or not after < node.lineno <= rebound:
            continue
        if isinstance(node, ast.Assert):
            if status_value and any(
                isinstance(n, ast.Name) and n.id == name for n in ast.walk(node.test)
            ):
                return True
            if _status_read_on(node.test, target) or _passed_to_checker(node.test, target, know):
                return True
        elif isinstance(node, ast.Expr | ast.Assign | ast.AnnAssign | ast.Return) and (
            _passed_to_checker(node, target, know)
        ):
            return True  # body = _problem(response, 422)
        elif (
            isinstance(node, ast.If)
            and _status_read_on(node.test, target)
            and any(isinstance(n, ast.Raise) for n in node.body)
        ):
            return True  # if response.status_code != 200: raise ...
    return False


def _bound_names(stmt: ast.stmt, call: ast.AST, parents: dict[ast.AST, ast.AST]) -> list[str]:
    """Names the request's response is bound to by ``stmt`` (assignment or for loop)."""
    if isinstance(stmt, ast.Assign | ast.AnnAssign):
        value = stmt.value
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        if value is call:
            return [t.id for t in targets if isinstance(t, ast.Name)]
        if isinstance(value, ast.Tuple) and call in value.elts:
            index = value.elts.index(call)  # type: ignore[arg-type]
            names = []
            for target in targets:
                if isinstance(target, ast.Tuple) and len(target.elts) == len(value.elts):
                    element = target.elts[index]
                    if isinstance(element, ast.Name):
                        names.append(element.id)
            return names
    if isinstance(stmt, ast.For):
        iterable, target = stmt.iter, stmt.target
        items = iterable.elts if isinstance(iterable, ast.Tuple | ast.List) else [iterable]
        if isinstance(target, ast.Name) and call in items:
            return [target.id]
        # for response, status in ((client.get(a), 200), (client.get(b), 401)):
        if isinstance(target, ast.Tuple):
            for item in items:
                if isinstance(item, ast.Tuple) and call in item.elts:
                    element = target.elts[item.elts.index(call)]  # type: ignore[arg-type]
                    return [element.id] if isinstance(element, ast.Name) else []
    if isinstance(stmt, ast.With):
        # with client.get(url) as response: ...
        return [
            item.optional_vars.id
            for item in stmt.items
            if item.context_expr is call and isinstance(item.optional_vars, ast.Name)
        ]
    walrus = parents.get(call)
    if isinstance(walrus, ast.NamedExpr):
        return [walrus.target.id]
    return []


def _is_checked(
    call: ast.Call,
    fn: ast.FunctionDef | ast.AsyncFunctionDef,
    parents: dict[ast.AST, ast.AST],
    know: Knowledge,
) -> bool:
    stmt = _statement_of(call, parents)
    if isinstance(stmt, ast.Assert) and (
        _status_read_on(stmt.test, call) or _passed_to_checker(stmt.test, call, know)
    ):
        return True
    if _passed_to_checker(stmt, call, know):
        return True
    if _inside_pytest_raises(call, parents):
        return True
    if isinstance(stmt, ast.Return) and stmt.value is call:
        return True  # a request helper: its callers check
    parent = parents[call]
    if isinstance(parent, ast.Attribute) and parent.attr in STATUS_ATTRS:
        if isinstance(stmt, ast.Return):
            return True  # the caller gets the status code
        if isinstance(stmt, ast.Assign):
            names = [t.id for t in stmt.targets if isinstance(t, ast.Name)]
            end = stmt.end_lineno or stmt.lineno
            return any(_name_checked_after(fn, n, end, know, status_value=True) for n in names)
    names = _bound_names(stmt, call, parents)
    if names:
        # Checks count from the end of the assignment (or of the loop's iterable) on.
        if isinstance(stmt, ast.For):
            last: ast.AST = stmt.iter
        elif isinstance(stmt, ast.With):
            last = stmt.items[-1].context_expr  # the checks are in the block
        else:
            last = stmt
        after = last.end_lineno or last.lineno
        for name in names:
            if _name_checked_after(fn, name, after, know):
                return True
            if name in _returned_names(fn):
                return True  # a request helper
    return False


def _returned_names(fn: ast.AST) -> set[str]:
    return {
        node.value.id
        for node in ast.walk(fn)
        if isinstance(node, ast.Return) and isinstance(node.value, ast.Name)
    }


def unchecked_requests(sources: dict[str, str]) -> list[Unchecked]:
    """Every request in ``sources`` (path -> source text) whose status nobody asserts."""
    trees = {path: ast.parse(text) for path, text in sources.items()}
    know = _learn(trees.values())
    found: list[Unchecked] = []
    for path, tree in trees.items():
        lines = sources[path].splitlines()
        for fn in _functions(tree):
            parents = _parents(fn)
            for node in ast.walk(fn):
                if not isinstance(node, ast.Call) or not know.is_request(node):
                    continue
                if _nearest_function(node, parents) is not fn:
                    continue
                if any(PRAGMA.search(lines[n - 1]) for n in range(node.lineno, _end(node) + 1)):
                    continue
                if not _is_checked(node, fn, parents, know):
                    found.append(Unchecked(path, node.lineno, fn.name, ast.unparse(node)[:120]))
    return sorted(found, key=lambda u: (u.path, u.line))


def _end(node: ast.AST) -> int:
    return getattr(node, "end_lineno", None) or node.lineno  # type: ignore[attr-defined]


def _nearest_function(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> ast.AST | None:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            return node
    return None


# -- the meta-test ----------------------------------------------------------------------------


def test_every_request_in_the_tests_has_its_status_asserted():
    sources = {str(p.relative_to(ROOT)): p.read_text(encoding="utf-8") for p in scanned_files()}
    assert len(sources) > 20, sorted(sources)  # the scan found the test suite
    missing = unchecked_requests(sources)
    assert not missing, (
        f"{len(missing)} request(s) whose status code no assert checks "
        "(assert response.status_code == 200 before reading the page; see this test's "
        "docstring):\n" + "\n".join(map(str, missing))
    )


# -- the check's own tests: what it catches and what it accepts -------------------------------


def _unchecked(code: str) -> list[str]:
    helpers = textwrap.dedent(
        """
        def is_problem(response, status):
            assert response.status_code == status
            return response.get_json()

        def _text(response):
            return response.get_data(as_text=True)

        class Auth:
            def login(self, email):
                return self.client.post("/auth/login", data={"email": email})
        """
    )
    found = unchecked_requests({"helpers.py": helpers, "test_x.py": textwrap.dedent(code)})
    return [u.source for u in found]


@pytest.mark.parametrize(
    "code",
    [
        # the bug that started it: text read off whatever page came back
        """
        def test_x(client):
            assert "Level added" in _text(client.get("/badges/admin"))
        """,
        # a response read without a status check
        """
        def test_x(client):
            page = client.get("/courses")
            assert "Python" in page.get_data(as_text=True)
        """,
        # a request made and ignored
        """
        def test_x(client):
            client.post("/courses/1/enroll", data={})
            assert True
        """,
        # the status is checked, but on the previous response only
        """
        def test_x(client):
            page = client.get("/a")
            assert page.status_code == 200
            page = client.get("/b")
            assert "b" in _text(page)
        """,
        # a sign-in through a helper whose outcome nobody looks at
        """
        def test_x(auth, client):
            auth.login("lee@example.com")
            assert client.get("/").status_code == 200
        """,
        # a with-block that never looks at the status
        """
        def test_x(client):
            with client.get("/a") as response:
                assert b"a" in response.data
        """,
        # the status read, but not asserted
        """
        def test_x(client):
            response = client.get("/a")
            if response.status_code == 200:
                print("fine")
        """,
        # a page load in a browser
        """
        def test_x(page, live_server):
            page.goto(f"{live_server}/courses")
            assert page.title()
        """,
        # an API call through a client-like object
        """
        def test_x(admin_api):
            body = admin_api.get("/users").get_json()
            assert body["items"]
        """,
        # a request through a helper class's verb-named method, on an instance named after it
        """
        class World:
            def get(self, url):
                return self.client.get(url)

        def test_x(world, doc):
            assert world.get(doc["image"]).data
        """,
    ],
)
def test_the_check_catches_a_missing_status_assertion(code):
    assert len(_unchecked(code)) == 1


@pytest.mark.parametrize(
    "code",
    [
        """
        def test_x(client):
            assert client.get("/courses").status_code == 200
        """,
        """
        def test_x(client):
            page = client.get("/courses")
            assert page.status_code == 200, _text(page)
            assert "Python" in _text(page)
        """,
        """
        def test_x(admin_api):
            is_problem(admin_api.post("/users", json={}), 422)
        """,
        """
        def test_x(client):
            for response in (client.get("/a"), client.get("/b")):
                assert response.status_code == 401
        """,
        """
        def test_x(client):
            for response, status in ((client.get("/a"), 200), (client.get("/b"), 401)):
                assert response.status_code == status
        """,
        """
        def test_x(client):
            statuses = [client.get(u).status_code for u in ("/a", "/b")]
            assert statuses == [200, 200]
        """,
        """
        def test_x(auth):
            assert auth.login("lee@example.com").status_code == 302
        """,
        """
        def test_x(client):
            with pytest.raises(ServerError):
                client.get("/boom")
        """,
        """
        def fetch(client, url):
            return client.get(url)

        def test_x(client):
            assert fetch(client, "/a").status_code == 200
        """,
        """
        def test_x(page, live_server):
            response = page.goto(f"{live_server}/courses")
            assert response is not None and response.status == 200
        """,
        """
        def test_x(client):
            client.get("/a")  # status: any answer below 500 will do here
        """,
        """
        def _problem(response, status):
            assert response.status_code == status
            return response.get_json()

        def test_x(client):
            response = client.post("/api/v1/groups", data="[")
            body = _problem(response, 400)
        """,
        """
        def test_x(client):
            with client.get("/static/app.css") as static:
                assert static.status_code == 200
        """,
        # a helper method that asserts its own request's status (World.fetch, World.login)
        # is not a request helper, even when another class's method of that name is
        """
        class AuthActions:
            def login(self, email):
                return self._client.post("/auth/login", data={"email": email})

        class World:
            def login(self, user):
                assert AuthActions(self.client).login(user.email).status_code == 302

            def fetch(self, path, status=200):
                response = self.client.get(path)
                assert response.status_code == status
                return response

        def test_x(world):
            world.login(world.admin)
            assert "Issuer" in world.fetch("/issuer").get_data(as_text=True)
        """,
        # a status tested and refused with an exception (a download helper)
        """
        def download(client, url):
            response = client.get(url)
            if response.status_code != 200:
                raise OSError(response.status_code)
            return response.data
        """,
        # not requests at all
        """
        def test_x(session, environ, response):
            assert session.get(User, 1) is None
            assert environ.get("LMS_X") is None
            assert response.headers.get("Location") == "/"
        """,
    ],
)
def test_the_check_accepts_asserted_statuses_and_ignores_non_requests(code):
    assert _unchecked(code) == []
