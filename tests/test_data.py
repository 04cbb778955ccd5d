"""Tests of clipscale.data: array validation for the fitter and reading run tables."""

from __future__ import annotations

import copy
import io
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from clipscale.data import CANONICAL, as_float_array, check_xy, read_runs
from clipscale.exceptions import ClipscaleWarning, DataError

GOOD_CSV = """model,gmacs_total,params,acc1,dataset
ViT-B-32,1.5e9,8.8e7,0.61,laion400m
ViT-B-16,4.4e9,8.6e7,0.67,laion400m
ViT-L-14,2.6e10,3.0e8,0.73,laion2b
"""


def runs_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "model": ["a", "b", "c", "d"],
            "metric": [0.5, 0.6, 0.7, 0.75],
            "params": [1e6, 2e6, 4e6, 8e6],
            "compute": [1e15, 1e16, 1e17, 1e18],
        }
    )


# --------------------------------------------------------------------------- as_float_array


@pytest.mark.parametrize(
    "values",
    [[1, 2, 3], (1.0, 2.0, 3.0), np.array([1, 2, 3]), pd.Series([1.0, 2.0, 3.0])],
)
def test_as_float_array_converts_to_float64(values):
    out = as_float_array(values, "x")
    assert out.dtype == np.float64
    assert out.ndim == 1
    np.testing.assert_array_equal(out, [1.0, 2.0, 3.0])


def test_as_float_array_returns_copy_of_float_array():
    values = np.array([1.0, 2.0, 3.0])
    out = as_float_array(values, "x")
    assert not np.shares_memory(out, values)
    out[0] = 99.0
    assert values[0] == 1.0


def test_as_float_array_converts_numeric_strings():
    out = as_float_array(["1e9", " 2.5 ", 3], "compute")
    np.testing.assert_array_equal(out, [1e9, 2.5, 3.0])


def test_as_float_array_rejects_scalar():
    with pytest.raises(DataError, match=r"x must be 1-D, got the scalar 5; wrap it in a list"):
        as_float_array(5, "x")


def test_as_float_array_rejects_2d_and_names_shape():
    with pytest.raises(DataError, match=r"x must be 1-D, got shape \(3, 2\)"):
        as_float_array(np.ones((3, 2)), "x")


def test_as_float_array_rejects_dataframe():
    with pytest.raises(DataError, match=r"shape \(4, 4\)"):
        as_float_array(runs_frame(), "x")


def test_as_float_array_rejects_ragged():
    with pytest.raises(DataError, match="x must be a 1-D sequence of numbers"):
        as_float_array([[1, 2], [3]], "x")


def test_as_float_array_rejects_empty():
    with pytest.raises(DataError, match="x is empty"):
        as_float_array([], "x")


def test_as_float_array_reports_text_rows_and_values():
    with pytest.raises(
        DataError,
        match=r"y has non-numeric entries: rows \[1, 3\] "
        r"\(values \['abc', 'n/a'\]\)\. Convert them to numbers",
    ):
        as_float_array([1.0, "abc", 2.0, "n/a"], "y")


def test_as_float_array_object_series_reports_labels():
    values = pd.Series([1.0, "oops", 3.0], index=["run-a", "run-b", "run-c"], dtype=object)
    with pytest.raises(DataError, match=r"rows \['run-b'\] \(values \['oops'\]\)"):
        as_float_array(values, "metric")


def test_as_float_array_flags_booleans_in_object_data():
    with pytest.raises(DataError, match=r"non-numeric entries: rows \[1\] \(values \[True\]\)"):
        as_float_array(pd.Series([1.0, True], dtype=object), "x")


def test_as_float_array_uses_given_index():
    with pytest.raises(DataError, match=r"rows \[20\] \(values \[nan\]\)"):
        as_float_array([1.0, np.nan], "x", index=[10, 20])


def test_as_float_array_index_length_mismatch():
    with pytest.raises(DataError, match="index has 3 labels but x has 2 values"):
        as_float_array([1.0, 2.0], "x", index=[1, 2, 3])


def test_as_float_array_nan():
    with pytest.raises(DataError, match=r"x has NaN \(missing\) entries: rows \[2\].*Drop or fill"):
        as_float_array([1.0, 2.0, np.nan], "x")


def test_as_float_array_nullable_missing_is_nan():
    with pytest.raises(DataError, match=r"NaN \(missing\) entries: rows \[1\]"):
        as_float_array(pd.Series([1, None, 3], dtype="Int64"), "x")


def test_as_float_array_none_is_nan():
    with pytest.raises(DataError, match=r"NaN \(missing\) entries: rows \[0\]"):
        as_float_array([None, 1.0], "x")


def test_as_float_array_inf():
    with pytest.raises(
        DataError, match=r"x has infinite entries: rows \[0, 2\] \(values \[inf, -inf\]\)"
    ):
        as_float_array([np.inf, 1.0, -np.inf], "x")


def test_as_float_array_positive_message():
    values = [1.0, 2.0, 3.0, 0.0, 5.0, 6.0, 7.0, -2.5]
    with pytest.raises(DataError) as info:
        as_float_array(values, "compute", positive=True)
    message = str(info.value)
    assert "compute needs positive values because the fit works with log(compute)" in message
    assert "rows [3, 7] (values [0, -2.5])" in message
    assert "Drop or filter out those rows (keep only compute > 0)" in message
    assert isinstance(info.value, ValueError)


def test_as_float_array_positive_not_required_by_default():
    np.testing.assert_array_equal(as_float_array([-1.0, 0.0], "x"), [-1.0, 0.0])


def test_as_float_array_greater_than():
    with pytest.raises(DataError, match=r"y must be greater than -1: rows \[1\] \(values \[-1\]\)"):
        as_float_array([-0.5, -1.0], "y", greater_than=-1.0)
    np.testing.assert_array_equal(as_float_array([-0.5], "y", greater_than=-1.0), [-0.5])


def test_as_float_array_truncates_long_row_lists():
    with pytest.raises(DataError, match=r"rows \[0, 1, 2, 3, 4\] \.\.\. and 3 more"):
        as_float_array([0.0] * 8, "x", positive=True)


def test_as_float_array_appends_hint():
    with pytest.raises(DataError, match=r"Drop those rows before fitting\. See the docs\.$"):
        as_float_array([np.inf], "x", hint="See the docs.")


def test_as_float_array_formats_large_values_compactly():
    with pytest.raises(DataError, match=r"values \[-1e9\]"):
        as_float_array([-1e9], "x", positive=True)


def test_as_float_array_does_not_mutate_series():
    values = pd.Series([3.0, 1.0, 2.0], index=[5, 6, 7])
    before = values.copy()
    out = as_float_array(values, "x")
    out[:] = 0.0
    pd.testing.assert_series_equal(values, before)


@given(
    hnp.arrays(
        np.float64,
        st.integers(1, 40),
        elements=st.floats(1e-30, 1e30, allow_nan=False, allow_infinity=False),
    ),
    st.sampled_from(["list", "array", "series", "tuple"]),
)
def test_as_float_array_property_copy_and_dtype(array, kind):
    wrap = {"list": list, "array": np.array, "series": pd.Series, "tuple": tuple}[kind]
    values = wrap(array.copy())
    snapshot = copy.deepcopy(values)
    out = as_float_array(values, "x", positive=True)
    assert out.dtype == np.float64
    assert out.shape == (len(array),)
    np.testing.assert_array_equal(out, array)
    assert out is not values
    if isinstance(values, np.ndarray):
        assert not np.shares_memory(out, values)
    np.testing.assert_array_equal(np.asarray(values), np.asarray(snapshot))
    out[:] = -1.0
    np.testing.assert_array_equal(np.asarray(values), np.asarray(snapshot))


# --------------------------------------------------------------------------- check_xy


def test_check_xy_returns_floats_and_unit_weights():
    x, y, w = check_xy([1e9, 1e10, 1e11], [3, 2, 1])
    assert x.dtype == y.dtype == w.dtype == np.float64
    np.testing.assert_array_equal(w, [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(y, [3.0, 2.0, 1.0])


def test_check_xy_keeps_given_weights():
    _, _, w = check_xy([1, 2, 3], [1, 2, 3], weights=[0, 1, 2])
    np.testing.assert_array_equal(w, [0.0, 1.0, 2.0])


def test_check_xy_length_mismatch_names_both_lengths():
    with pytest.raises(DataError, match="compute has 3 values but loss has 2"):
        check_xy([1, 2, 3], [1, 2], x_name="compute", y_name="loss")


def test_check_xy_x_must_be_positive_by_default():
    with pytest.raises(DataError, match=r"compute needs positive values.*rows \[1\]"):
        check_xy([1.0, 0.0, 3.0], [1, 2, 3], x_name="compute")
    x, _, _ = check_xy([-1.0, 1.0], [1, 2], positive_x=False)
    np.testing.assert_array_equal(x, [-1.0, 1.0])


def test_check_xy_y_greater_than():
    with pytest.raises(DataError, match=r"loss must be greater than 0: rows \[2\]"):
        check_xy([1, 2, 3], [1.0, 0.5, 0.0], y_name="loss", y_greater_than=0.0)
    with pytest.raises(DataError, match="must be greater than -1"):
        check_xy([1, 2], [0.0, -1.0], y_greater_than=-1.0)
    _, y, _ = check_xy([1, 2], [0.0, -0.5], y_greater_than=-1.0)
    np.testing.assert_array_equal(y, [0.0, -0.5])


def test_check_xy_min_points():
    with pytest.raises(
        DataError, match="the form has 4 parameters to fit, so it needs at least 4 points; got 3"
    ):
        check_xy([1, 2, 3], [1, 2, 3], min_points=4)


def test_check_xy_single_distinct_x():
    with pytest.raises(
        DataError,
        match="x has a single distinct value 1e9: a scaling law needs runs at different scales",
    ):
        check_xy([1e9, 1e9, 1e9], [1, 2, 3])


def test_check_xy_min_distinct_x():
    with pytest.raises(DataError, match=r"only 2 distinct values"):
        check_xy([1, 2, 2, 1], [1, 2, 3, 4], min_distinct_x=3)


@pytest.mark.parametrize(
    ("weights", "pattern"),
    [
        ([1.0, -1.0, 1.0], r"weights must be >= 0: rows \[1\] \(values \[-1\]\)"),
        ([1.0, np.nan, 1.0], r"weights has NaN"),
        ([1.0, np.inf, 1.0], r"weights has infinite"),
        ([0.0, 0.0, 0.0], r"weights are all zero"),
        ([1.0, 1.0], r"weights has 2 values but x has 3"),
    ],
)
def test_check_xy_bad_weights(weights, pattern):
    with pytest.raises(DataError, match=pattern) as info:
        check_xy([1, 2, 3], [1, 2, 3], weights=weights)
    assert isinstance(info.value, ValueError)


def test_check_xy_does_not_mutate_inputs():
    x = np.array([1.0, 2.0, 3.0])
    y = np.array([3.0, 2.0, 1.0])
    xs, ys, _ = check_xy(x, y)
    xs[:] = 0
    ys[:] = 0
    np.testing.assert_array_equal(x, [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(y, [3.0, 2.0, 1.0])


# --------------------------------------------------------------------------- read_runs: good input


def test_read_runs_csv_path(tmp_path):
    path = tmp_path / "runs.csv"
    path.write_text(GOOD_CSV)
    runs = read_runs(path, columns={"compute": "gmacs_total", "metric": "acc1"})
    assert list(runs.columns) == ["compute", "params", "metric", "model", "dataset"]
    np.testing.assert_array_equal(runs["compute"], [1.5e9, 4.4e9, 2.6e10])
    np.testing.assert_array_equal(runs["metric"], [0.61, 0.67, 0.73])
    assert all(runs[c].dtype == np.float64 for c in ("compute", "params", "metric"))
    assert isinstance(runs.index, pd.RangeIndex)
    assert runs.attrs["units"] == {}


def test_read_runs_str_path(tmp_path):
    path = tmp_path / "runs.csv"
    path.write_text(GOOD_CSV)
    runs = read_runs(str(path), columns={"compute": "gmacs_total", "metric": "acc1"})
    assert len(runs) == 3


def test_read_runs_buffer():
    runs = read_runs(io.StringIO("compute,metric\n1e9,0.5\n2e9,0.6\n"))
    assert list(runs.columns) == ["compute", "metric"]
    np.testing.assert_array_equal(runs["compute"], [1e9, 2e9])


def test_read_runs_dataframe_not_mutated():
    frame = runs_frame()
    frame.index = [10, 11, 12, 13]
    frame.attrs["source"] = "mine"
    before = frame.copy(deep=True)
    attrs_before = copy.deepcopy(frame.attrs)
    runs = read_runs(frame, units={"compute": "FLOPs"})
    runs.loc[0, "metric"] = -1.0
    pd.testing.assert_frame_equal(frame, before)
    assert frame.attrs == attrs_before
    assert runs.attrs == {"source": "mine", "units": {"compute": "FLOPs"}}


def test_read_runs_dataframe_column_order_and_index():
    runs = read_runs(runs_frame())
    assert list(runs.columns) == ["compute", "params", "metric", "model"]
    assert isinstance(runs.index, pd.RangeIndex)
    assert list(runs.columns[: len(CANONICAL) - 1]) == [c for c in CANONICAL if c != "samples"]


def test_read_runs_extra_columns_kept_unchanged():
    frame = runs_frame().assign(task=["t1", "t2", "t3", "t4"], seed=[0, 1, 2, 3])
    runs = read_runs(frame)
    assert runs["model"].tolist() == ["a", "b", "c", "d"]
    assert runs["task"].tolist() == ["t1", "t2", "t3", "t4"]
    assert runs["seed"].dtype == frame["seed"].dtype
    assert list(runs.columns[3:]) == ["model", "task", "seed"]


def test_read_runs_renames_with_columns():
    frame = pd.DataFrame({"gmacs_total": [1.0, 2.0], "acc1": [0.5, 0.6], "n": [1e6, 2e6]})
    runs = read_runs(frame, columns={"compute": "gmacs_total", "metric": "acc1", "samples": "n"})
    assert list(runs.columns) == ["compute", "samples", "metric"]
    np.testing.assert_array_equal(runs["samples"], [1e6, 2e6])


def test_read_runs_matches_canonical_names_ignoring_case_and_space():
    runs = read_runs(io.StringIO(" Compute ,METRIC\n1,0.5\n2,0.6\n"))
    assert list(runs.columns) == ["compute", "metric"]


def test_read_runs_converts_numeric_strings():
    frame = pd.DataFrame({"compute": ["1e9", "2e9"], "metric": [0.1, 0.2]}, dtype=object)
    runs = read_runs(frame)
    assert runs["compute"].dtype == np.float64
    np.testing.assert_array_equal(runs["compute"], [1e9, 2e9])


def test_read_runs_integers_become_float64():
    runs = read_runs(pd.DataFrame({"params": [1, 2, 3], "metric": [1, 2, 3]}))
    assert runs["params"].dtype == np.float64
    assert runs["metric"].dtype == np.float64


def test_read_runs_negative_metric_allowed():
    runs = read_runs(pd.DataFrame({"compute": [1.0, 2.0], "metric": [-0.5, 0.0]}))
    np.testing.assert_array_equal(runs["metric"], [-0.5, 0.0])


def test_read_runs_units_recorded():
    runs = read_runs(runs_frame(), units={"compute": "FLOPs", "metric": "top-1"})
    assert runs.attrs["units"] == {"compute": "FLOPs", "metric": "top-1"}


# --------------------------------------------------------------------------- read_runs: bad input


def test_read_runs_unknown_columns_key():
    with pytest.raises(
        DataError,
        match=r"columns keys must be canonical names "
        r"\['compute', 'samples', 'params', 'metric'\]; got \['flops'\]",
    ):
        read_runs(runs_frame(), columns={"flops": "compute"})


def test_read_runs_unknown_units_key():
    with pytest.raises(DataError, match=r"units keys must be canonical names"):
        read_runs(runs_frame(), units={"gflops": "x"})


def test_read_runs_mapped_column_missing():
    with pytest.raises(
        DataError,
        match=r"column 'foo' given for 'metric' is not in the table; "
        r"columns are: \['model', 'metric', 'params', 'compute'\]",
    ):
        read_runs(runs_frame(), columns={"metric": "foo"})


def test_read_runs_same_column_for_two_names():
    frame = pd.DataFrame({"a": [1.0, 2.0], "b": [1.0, 2.0]})
    with pytest.raises(DataError, match=r"column 'a' is given for both 'compute' and 'metric'"):
        read_runs(frame, columns={"compute": "a", "metric": "a"})


def test_read_runs_mapping_clashes_with_existing_canonical_column():
    frame = runs_frame().assign(acc1=[0.1, 0.2, 0.3, 0.4])
    with pytest.raises(DataError, match=r"two 'metric' columns.*rename or drop one"):
        read_runs(frame, columns={"metric": "acc1"})


def test_read_runs_missing_metric():
    frame = pd.DataFrame({"compute": [1.0, 2.0], "acc1": [0.5, 0.6]})
    with pytest.raises(DataError) as info:
        read_runs(frame)
    message = str(info.value)
    assert "missing 'metric'" in message
    assert "['compute', 'acc1']" in message
    assert "columns={'metric': '<your column>'" in message
    assert isinstance(info.value, ValueError)


def test_read_runs_missing_scale_columns():
    frame = pd.DataFrame({"metric": [1.0, 2.0], "flops": [1.0, 2.0]})
    with pytest.raises(
        DataError,
        match=r"missing one of 'compute', 'samples', 'params'; "
        r"columns are: \['metric', 'flops'\]",
    ):
        read_runs(frame)


def test_read_runs_text_in_numeric_column_dataframe():
    frame = runs_frame().astype({"metric": object})
    frame.loc[2, "metric"] = "n/a"
    with pytest.raises(DataError) as info:
        read_runs(frame)
    message = str(info.value)
    assert "column 'metric' must be numeric" in message
    assert "rows [2] (values ['n/a'])" in message
    assert "Fix or drop those rows" in message
    assert isinstance(info.value, ValueError)


def test_read_runs_text_in_numeric_column_csv():
    text = "compute,metric\n1e9,0.5\n2e9,abc\n3e9,0.7\n4e9,?\n"
    with pytest.raises(
        DataError,
        match=r"column 'metric' must be numeric but has text at "
        r"rows \[1, 3\] \(values \['abc', '\?'\]\)",
    ):
        read_runs(io.StringIO(text))


def test_read_runs_missing_file(tmp_path):
    path = tmp_path / "nope.csv"
    with pytest.raises(DataError, match=r"file not found: .*nope\.csv") as info:
        read_runs(path)
    assert isinstance(info.value, ValueError)


def test_read_runs_csv_text_instead_of_path_hint():
    with pytest.raises(DataError, match=r"io\.StringIO"):
        read_runs("compute,metric\n1,2\n")


def test_read_runs_directory(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        read_runs(tmp_path)


def test_read_runs_empty_file(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(DataError, match=r"empty\.csv has no rows") as info:
        read_runs(path)
    assert isinstance(info.value.__cause__, pd.errors.EmptyDataError)


def test_read_runs_header_only_file(tmp_path):
    path = tmp_path / "header.csv"
    path.write_text("compute,metric\n")
    with pytest.raises(
        DataError, match=r"header\.csv has no rows \(columns: \['compute', 'metric'\]\)"
    ):
        read_runs(path)


def test_read_runs_empty_dataframe():
    with pytest.raises(DataError, match="the table has no rows"):
        read_runs(pd.DataFrame({"compute": [], "metric": []}))


def test_read_runs_binary_file(tmp_path):
    path = tmp_path / "runs.bin"
    path.write_bytes(b"\x00\xff\xfe" * 100)
    with pytest.raises(DataError, match=r"runs\.bin is binary, not a text CSV file") as info:
        read_runs(path)
    assert isinstance(info.value, ValueError)


def test_read_runs_undecodable_file(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("model,compute,metric\ncaf\u00e9,1,2\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin1\.csv is not UTF-8 text") as info:
        read_runs(path)
    assert isinstance(info.value.__cause__, UnicodeDecodeError)


def test_read_runs_malformed_csv():
    with pytest.raises(DataError, match="could not be parsed as CSV") as info:
        read_runs(io.StringIO("compute,metric\n1,2\n3,4,5,6\n"))
    assert isinstance(info.value.__cause__, pd.errors.ParserError)


def test_read_runs_bad_source_type():
    with pytest.raises(
        DataError, match="source must be a CSV path, a text buffer or a pandas DataFrame; got int"
    ):
        read_runs(42)


def test_read_runs_nan_raises_with_fix():
    text = "compute,params,metric\n1,1,0.5\n2,,0.6\n3,3,\n4,4,0.8\n"
    with pytest.raises(DataError) as info:
        read_runs(io.StringIO(text))
    message = str(info.value)
    assert "column 'params' has NaN or inf at rows [1] (values [nan])" in message
    assert "column 'metric' has NaN or inf at rows [2] (values [nan])" in message
    assert "nan_policy='omit'" in message


def test_read_runs_inf_raises():
    frame = runs_frame()
    frame.loc[3, "compute"] = np.inf
    with pytest.raises(
        DataError,
        match=r"column 'compute' has NaN or inf at rows \[3\] "
        r"\(values \[inf\]\)",
    ):
        read_runs(frame)


def test_read_runs_nan_omit_drops_and_warns():
    text = "compute,params,metric,model\n1,1,0.5,a\n2,,0.6,b\n3,3,inf,c\n4,4,0.8,d\n"
    with pytest.warns(ClipscaleWarning, match=r"dropped 2 of 4 rows"):
        runs = read_runs(io.StringIO(text), nan_policy="omit")
    assert runs["model"].tolist() == ["a", "d"]
    assert isinstance(runs.index, pd.RangeIndex)
    assert list(runs.index) == [0, 1]


def test_read_runs_nan_omit_ignores_extra_columns():
    frame = runs_frame().assign(note=[None, "x", None, "y"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        runs = read_runs(frame, nan_policy="omit")
    assert len(runs) == 4


def test_read_runs_nan_omit_everything_dropped():
    frame = pd.DataFrame({"compute": [np.nan, 1.0], "metric": [1.0, np.nan]})
    with pytest.warns(ClipscaleWarning), pytest.raises(DataError, match="no runs are left"):
        read_runs(frame, nan_policy="omit")


def test_read_runs_bad_nan_policy():
    with pytest.raises(DataError, match=r"nan_policy must be 'raise' or 'omit', got 'drop'"):
        read_runs(runs_frame(), nan_policy="drop")


@pytest.mark.parametrize("column", ["compute", "samples", "params"])
def test_read_runs_non_positive_scale(column):
    frame = pd.DataFrame({column: [1.0, 0.0, 2.0, -3.0], "metric": [1.0, 2.0, 3.0, 4.0]})
    with pytest.raises(DataError) as info:
        read_runs(frame)
    message = str(info.value)
    assert f"column '{column}' needs positive values" in message
    assert f"log({column})" in message
    assert "rows [1, 3] (values [0, -3])" in message
    assert f"keep {column} > 0" in message
    assert isinstance(info.value, ValueError)


def test_read_runs_non_positive_rows_are_original_positions_after_omit():
    frame = pd.DataFrame({"compute": [1.0, np.nan, 2.0, 0.0], "metric": [1.0, 2.0, 3.0, 4.0]})
    with pytest.warns(ClipscaleWarning), pytest.raises(DataError, match=r"rows \[3\]"):
        read_runs(frame, nan_policy="omit")


def test_read_runs_reports_positions_not_custom_index():
    frame = runs_frame()
    frame.index = ["w", "x", "y", "z"]
    frame.loc["y", "params"] = -1.0
    with pytest.raises(DataError, match=r"rows \[2\] \(values \[-1\]\)"):
        read_runs(frame)


def test_read_runs_warning_points_at_caller():
    frame = pd.DataFrame({"compute": [np.nan, 1.0, 2.0], "metric": [1.0, 2.0, 3.0]})
    with pytest.warns(ClipscaleWarning, match=r"dropped 1 of 3 rows") as record:
        read_runs(frame, nan_policy="omit")
    assert record[0].filename == __file__
