"""What a cell reads and writes, from its syntax tree (tracker.capture._analysis)."""

from __future__ import annotations

import pytest

from tracker.capture._analysis import analyze, clear_cache


def _magic(name: str, line: str) -> str:
    """A magic line as IPython's transformers leave it."""
    return f"get_ipython().run_line_magic({name!r}, {line!r})"


@pytest.mark.parametrize(
    ("source", "reads", "writes"),
    [
        pytest.param("x = 1", (), ("x",), id="assign"),
        pytest.param("y = x + 1", ("x",), ("y",), id="read-then-write"),
        pytest.param("x = 1\ny = x", (), ("x", "y"), id="bound-before-read"),
        pytest.param("x = x + 1", ("x",), ("x",), id="read-own-old-value"),
        pytest.param("x += 1", ("x",), ("x",), id="augmented"),
        pytest.param("a, (b, *c) = t", ("t",), ("a", "b", "c"), id="unpacking"),
        pytest.param("import numpy as np\nimport os.path", (), ("np", "os"), id="imports"),
        pytest.param("from m import f as g, h", (), ("g", "h"), id="from-import"),
        pytest.param("def f(a, b=d):\n    return a + g", ("d", "g"), ("f",), id="def"),
        pytest.param("def f():\n    return g\ng = 1\nf()", (), ("f", "g"), id="def-bound-later"),
        pytest.param(
            "class K(Base):\n    attr = v\n    def m(self):\n        return w",
            ("Base", "v", "w"),
            ("K",),
            id="class",
        ),
        pytest.param("[v * k for v in data]", ("data", "k"), (), id="comprehension-scope"),
        pytest.param(
            "[(q := v) for v in data]\nprint(q)",
            ("data", "print"),
            ("q",),
            id="walrus-in-comprehension",
        ),
        pytest.param("lambda q: q + r", ("r",), (), id="lambda"),
        pytest.param("f = lambda: g", ("g",), ("f",), id="lambda-body-is-a-bare-name"),
        pytest.param(
            "def f():\n    def g(x):\n        return x + y\n    return g",
            ("y",),
            ("f",),
            id="nested-def-has-its-own-scope",
        ),
        pytest.param(
            "def f():\n    def g():\n        y = 1\n    return y",
            ("y",),
            ("f",),
            id="nested-def-binds-only-its-own-names",
        ),
        pytest.param(
            "def f(a):\n    def g():\n        nonlocal a\n        a = 1\n    return a",
            (),
            ("f",),
            id="nonlocal-in-a-nested-def-keeps-the-parameter",
        ),
        pytest.param(
            "for i in range(n):\n    acc = i\nprint(acc)",
            ("range", "n", "print", "acc"),
            ("i", "acc"),
            id="loop-binding-is-not-definite",
        ),
        pytest.param(
            "with open(p) as fh:\n    text = fh.read()\nprint(text)",
            ("open", "p", "print"),
            ("fh", "text"),
            id="with",
        ),
        pytest.param(
            "try:\n    v = f()\nexcept E as e:\n    pass", ("f", "E"), ("v", "e"), id="try"
        ),
        pytest.param("del x", (), ("x",), id="del-name"),
        pytest.param(
            "match p:\n    case [a, *rest]:\n        pass", ("p",), ("a", "rest"), id="match"
        ),
        pytest.param(
            _magic("track", "params C gamma"), ("C", "gamma"), (), id="track-params-reads"
        ),
        pytest.param("C = 1\n" + _magic("track", "params C"), (), ("C",), id="track-params-own"),
    ],
)
def test_reads_and_writes(source: str, reads: tuple[str, ...], writes: tuple[str, ...]) -> None:
    a = analyze(source)
    assert a.reads == reads
    assert a.writes == writes
    assert not a.syntax_error


@pytest.mark.parametrize(
    ("source", "name", "mutate", "escape", "methods"),
    [
        pytest.param("a[3] = 7", "a", True, False, (), id="item-assignment"),
        pytest.param("a[0][1] = 7", "a", True, False, (), id="nested-item"),
        pytest.param("df.loc[0, 'x'] = 1", "df", True, False, (), id="loc-assignment"),
        pytest.param("obj.attr = 1", "obj", True, False, (), id="attribute-assignment"),
        pytest.param("del d['k']", "d", True, False, (), id="item-deletion"),
        pytest.param("a += 1", "a", True, False, (), id="augmented-in-place"),
        pytest.param("a[:2] *= 3", "a", True, False, (), id="augmented-slice"),
        pytest.param("a.T[0] = 1", "a", True, False, (), id="through-a-view"),
        pytest.param("len(a)\nprint(a.shape)", "a", False, False, (), id="pure-reads"),
        pytest.param("a + 1 == b", "a", False, False, (), id="arithmetic-is-new"),
        pytest.param("a", "a", False, False, (), id="displayed"),
        pytest.param("f'{a}'", "a", False, False, (), id="formatted"),
        pytest.param("f(a)", "a", False, True, (), id="argument"),
        pytest.param("b = a", "a", False, True, (), id="alias"),
        pytest.param("t = (a, 1)", "a", False, True, (), id="into-a-container"),
        pytest.param("for row in a:\n    pass", "a", False, True, (), id="iterated"),
        pytest.param("v = a[0]", "a", False, True, (), id="view-bound"),
        pytest.param("x[a]", "a", False, False, (), id="used-as-index"),
    ],
)
def test_uses(source: str, name: str, mutate: bool, escape: bool, methods: tuple[str, ...]) -> None:
    use = analyze(source).uses[name]
    assert use.mutate is mutate
    assert use.escape is escape
    assert tuple(m.method for m in use.methods) == methods


def test_method_calls_keep_the_name_inplace_flag_and_where_the_result_goes() -> None:
    a = analyze("df.fillna(0, inplace=True)\ntotal = df.sum()\ndf.head()\nv = x.reshape(2, 2)")
    fill, total, head = a.uses["df"].methods
    assert (fill.method, fill.inplace, fill.result_escapes) == ("fillna", True, False)
    assert (total.method, total.inplace, total.result_escapes) == ("sum", False, True)
    assert (head.method, head.result_escapes) == ("head", False)
    (reshape,) = a.uses["x"].methods
    assert (reshape.method, reshape.result_escapes) == ("reshape", True)
    # inplace given as a variable: it may be True.
    assert analyze("df.dropna(inplace=flag)").uses["df"].methods[0].inplace


def test_calling_a_name_is_not_escaping_it() -> None:
    use = analyze("model(x)").uses["model"]
    assert use.called
    assert not use.escape
    assert not use.pure


@pytest.mark.parametrize(
    "source",
    [
        pytest.param("exec('x = 1')", id="exec"),
        pytest.param("globals()['x'] = 1", id="globals"),
        pytest.param("vars()['x'] = 1", id="vars"),
        pytest.param("from numpy import *", id="star-import"),
        pytest.param(_magic("run", "script.py"), id="run-magic"),
        pytest.param("get_ipython().run_cell_magic('capture', 'out', 'x = 1')", id="cell-magic"),
        pytest.param("def f():\n    exec('y = 2')", id="exec-in-a-function"),
    ],
)
def test_namespace_changes_behind_the_syntax_are_dynamic(source: str) -> None:
    assert analyze(source).dynamic


@pytest.mark.parametrize(
    "source",
    [
        pytest.param("vars(obj)", id="vars-of-an-object"),
        pytest.param(_magic("matplotlib", "inline"), id="inert-magic"),
        pytest.param("files = get_ipython().getoutput('ls')", id="shell-capture"),
        pytest.param("get_ipython().system('ls')", id="shell-command"),
    ],
)
def test_inert_constructs_are_not_dynamic(source: str) -> None:
    assert not analyze(source).dynamic


def test_globals_assigned_by_functions_are_maybe_writes() -> None:
    a = analyze("def f():\n    global Z\n    Z = W + 1\nf()")
    assert a.maybe_writes == ("Z",)
    assert a.reads == ("W",)
    assert a.writes == ("f",)


@pytest.mark.parametrize(
    ("source", "control"),
    [
        pytest.param(
            _magic("load_ext", "tracker") + "\n" + _magic("track", "on"), True, id="setup"
        ),
        pytest.param(_magic("track", "status"), True, id="status"),
        pytest.param(_magic("track", "sklearn on"), True, id="sklearn"),
        pytest.param(_magic("track", "params C"), False, id="params-is-work"),
        pytest.param(_magic("track", "off") + "\nx = 1", False, id="mixed"),
        pytest.param("", False, id="empty"),
    ],
)
def test_control_only_cells(source: str, control: bool) -> None:
    assert analyze(source).control_only is control


def test_track_cell_marker() -> None:
    a = analyze(_magic("track", "__cell__ --name r") + "\nx = y")
    assert a.track_cell
    assert not a.control_only
    assert a.reads == ("y",)


def test_syntax_errors_are_reported_not_raised() -> None:
    a = analyze("def broken(:\n")
    assert a.syntax_error
    assert a.reads == ()
    assert a.writes == ()


def test_analysis_is_cached_by_source() -> None:
    clear_cache()
    first = analyze("q = r + 1")
    assert analyze("q = r + 1") is first
    clear_cache()
    assert analyze("q = r + 1") is not first


def _cell_magic(name: str, line: str, body: str) -> str:
    """A cell magic as IPython's transformers leave it."""
    return f"get_ipython().run_cell_magic({name!r}, {line!r}, {body!r})"


@pytest.mark.parametrize(
    ("source", "reads", "writes"),
    [
        pytest.param(_magic("time", "x = f(y)"), ("f", "y"), ("x",), id="time-line"),
        pytest.param(
            _magic("time", "--no-raise-error z = w"), ("w",), ("z",), id="time-line-option"
        ),
        pytest.param(
            _cell_magic("time", "", "c = y + 1\nd = c * 2\nd"), ("y",), ("c", "d"), id="time-cell"
        ),
        pytest.param(
            "y = 1\n" + _magic("time", "x = y"), (), ("y", "x"), id="time-reads-the-cells-own-value"
        ),
        pytest.param(
            _cell_magic("time", "", "%track metrics acc\nacc = 1"),
            ("acc",),
            ("acc",),
            id="time-cell-with-a-line-magic",
        ),
        pytest.param(_magic("timeit", "a.sort()"), ("a",), (), id="timeit-line"),
        pytest.param(
            _magic("timeit", "-n1 -r 3 -q tmp = vals[0]"),
            ("vals",),
            (),
            id="timeit-binds-locals-only",
        ),
        pytest.param(
            _magic("timeit", "-o -v timing total = sum(vals)"),
            ("sum", "vals"),
            ("timing",),
            id="timeit-result-variable",
        ),
        pytest.param(
            _cell_magic("timeit", "-n1 -r1 b = a.copy()", "b.sort()\nout.append(b)"),
            ("a", "out"),
            (),
            id="timeit-cell-setup-and-body",
        ),
        pytest.param(
            _cell_magic("timeit", "", "global g\ng = h"), ("h",), ("g",), id="timeit-global"
        ),
    ],
)
def test_code_run_by_timing_magics_is_cell_code(
    source: str, reads: tuple[str, ...], writes: tuple[str, ...]
) -> None:
    # %time, %%time, %timeit and %%timeit run code given as a string: it is analysed
    # like the cell's own, so its reads and writes are the cell's.
    a = analyze(source)
    assert a.reads == reads
    assert a.writes == writes
    assert not a.dynamic


def test_timing_magics_keep_how_names_are_used() -> None:
    sort = analyze(_magic("timeit", "a.sort()")).uses["a"]
    assert [m.method for m in sort.methods] == ["sort"]
    passed = analyze(_magic("time", "np.add(y, 1, out=y)")).uses["y"]
    assert passed.escape
    # `x = %time a` binds x to a itself: a escapes, as in `x = a`.
    assert analyze("x = " + _magic("time", "a")).uses["a"].escape
    assert analyze(_magic("time", "a")).uses["a"].pure  # only displayed


@pytest.mark.parametrize(
    "source",
    [
        pytest.param(_magic("timeit", "-x foo"), id="timeit-bad-option"),
        pytest.param(_magic("time", "y = ("), id="time-code-that-does-not-parse"),
        pytest.param(
            "get_ipython().run_cell_magic('time', '', body)", id="time-cell-body-not-a-string"
        ),
    ],
)
def test_timing_magics_whose_code_cannot_be_read_are_dynamic(source: str) -> None:
    assert analyze(source).dynamic
