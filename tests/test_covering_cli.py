"""`dltv covering bound`: numbers worked out by hand, and one-line refusals."""
import json
import math

import pytest

from dltv.checks.cli import main


def _run(capsys, *argv):
    code = main(["covering", "bound", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_the_bounds_of_a_small_class_match_a_hand_computation(capsys):
    code, out, _ = _run(capsys, "--widths", "2,3,1", "--B", "1/2", "--eps", "0.1", "--json")
    r = json.loads(out)
    # Lambda = (L+1) max(B,1)^L (d_0+1)(d_1+1) = 2*1*3*4 = 24; m = ceil(B Lambda/eps) = 120;
    # S = 3*3 + 1*4 = 13; log N = S log m; sorted cells: m^(S-3) C(m+2, 3)
    assert code == 0 and r["Lambda"] == "24" and r["m"] == 120 and r["S"] == 13
    assert float(r["log_N_classical"]) == pytest.approx(13 * math.log(120), rel=1e-15)
    assert float(r["log_N_permutation"]) == pytest.approx(10 * math.log(120) + math.log(math.comb(122, 3)),
                                                          rel=1e-15)
    assert float(r["log_saving_limit"]) == pytest.approx(math.log(6), rel=1e-15)
    assert r["group_order"] == 6


def test_tanh_counts_sign_flips_and_the_permutation_factor_saves_samples(capsys):
    code, out, _ = _run(capsys, "--widths", "2,4,4,1", "--B", "1", "--eps", "0.05", "--activation", "tanh",
                        "--target", "0.5", "--json")
    r = json.loads(out)
    assert r["group_order"] == (2 ** 4 * 24) ** 2
    n = r["n_needed"]
    assert 0 < n["permutation"] < n["classical"]
    code, text, _ = _run(capsys, "--widths", "2,4,4,1", "--B", "1", "--eps", "0.05", "--target", "0.5")
    assert code == 0 and f"{n['permutation']} with the permutation factor" in text


def test_tanh_sign_flip_bound_by_hand(capsys):
    code, out, _ = _run(capsys, "--widths", "2,3,1", "--B", "1/2", "--eps", "0.1", "--activation", "tanh",
                        "--target", "0.5", "--json")
    r = json.loads(out)
    # m = 120 as above: 3 hidden biases >= 0 and sorted -> C(60 + 2, 3) cells, the rest m^(13-3)
    assert code == 0 and float(r["log_N_sign_flip"]) == pytest.approx(10 * math.log(120) + math.log(math.comb(62, 3)),
                                                                      rel=1e-15)
    assert float(r["log_saving_limit_sign_flip"]) == pytest.approx(math.log(48), rel=1e-15)
    n = r["n_needed"]
    assert n["sign_flip"] <= n["permutation"] < n["classical"]
    assert "log_N_scaling" not in r


def test_relu_scaling_quotient_by_hand(capsys):
    code, out, _ = _run(capsys, "--widths", "2,3,1", "--B", "1/2", "--eps", "0.1", "--quotient-scaling", "--json")
    r = json.loads(out)
    # 3 hidden neurons with k = 3 incoming coordinates on the box boundary: (120^3 - 118^3) cells each
    assert code == 0 and r["effective_dimension_scaling"] == 10
    assert float(r["log_N_scaling"]) == pytest.approx(4 * math.log(120) + 3 * math.log(120 ** 3 - 118 ** 3),
                                                      rel=1e-15)
    assert "log_N_sign_flip" not in r
    code, text, _ = _run(capsys, "--widths", "2,3,1", "--B", "1/2", "--eps", "0.1", "--quotient-scaling")
    assert code == 0 and "effective dimension 10 of 13" in text


@pytest.mark.parametrize("argv, word", [
    (["--widths", "2,4,1", "--B", "1", "--eps", "0.1", "--activation", "tanh", "--quotient-scaling"],
     "quotient-scaling"),
    (["--widths", "2,16", "--B", "1", "--eps", "0.1"], "widths"),
    (["--widths", "2,4,1", "--B", "0", "--eps", "0.1"], "B"),
    (["--widths", "2,4,1", "--B", "1", "--eps", "nan"], "eps"),
    (["--widths", "2,4,1", "--B", "1", "--eps", "0.1", "--activation", "softmax"], "activation"),
    (["--widths", "2,4,1", "--B", "1", "--eps", "0.1", "--target", "0.5", "--eta", "1"], "eta"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, argv, word):
    code, out, err = _run(capsys, *argv)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and word in err


def test_widths_may_be_given_as_a_list_from_python():
    from dltv.checks.cli_covering import covering_bound

    assert covering_bound([2, 3, 1], "1/2", "0.1") == covering_bound("2,3,1", "1/2", "0.1")
