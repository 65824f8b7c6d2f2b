import pytest

from spikeDE.train.config import ConfigError, TrainConfig, config_from_dict, load_config, parse_value, save_config


def _cfg():
    return TrainConfig(task="digits", task_args={"n_train": 100, "name": 'a "quoted" \\ value', "p": 0.25,
                                                  "flag": True, "levels": [1, 2.5]},
                       model="ann", neurons=["flif", "lif"], alpha=0.6, learn_alpha=False, memory="64", epochs=3,
                       lr=1e-3, readout="window", readout_window=4, out="runs/x", seed=7)


@pytest.mark.parametrize("ext", ["toml", "yaml", "yml"])
def test_round_trip(tmp_path, ext):
    cfg = _cfg()
    path = save_config(cfg, tmp_path / f"c.{ext}")
    assert load_config(path) == cfg
    # None fields (alpha unset) survive too
    cfg2 = cfg.replace(alpha=None, out=None)
    assert load_config(save_config(cfg2, tmp_path / f"d.{ext}")) == cfg2


def test_toml_is_read_by_the_standard_parser(tmp_path):
    tomllib = pytest.importorskip("tomllib")
    path = save_config(_cfg(), tmp_path / "c.toml")
    with open(path, "rb") as f:
        data = tomllib.load(f)
    assert data["task_args"]["name"] == 'a "quoted" \\ value' and data["neurons"] == ["flif", "lif"]
    assert "alpha" in data and data["alpha"] == 0.6


def test_file_over_defaults_and_dash_keys(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('epochs = 9\nbatch-size = 32\nlr = 1\nneurons = "flif, lif"\n[task_args]\ndelay = 64\n')
    cfg = load_config(p)
    assert (cfg.epochs, cfg.batch_size, cfg.lr, cfg.neurons) == (9, 32, 1.0, ["flif", "lif"])
    assert cfg.task_args == {"delay": 64} and cfg.hidden == TrainConfig().hidden
    over = load_config(p, base=TrainConfig(hidden=7))
    assert over.hidden == 7 and over.epochs == 9


@pytest.mark.parametrize("bad, match", [
    ({"epochz": 3}, "unknown configuration key 'epochz'"),
    ({"epochs": "3"}, "epochs must be an integer"),
    ({"epochs": 2.5}, "epochs must be an integer"),
    ({"epochs": 0}, "epochs must be >= 1"),
    ({"learn_alpha": 1}, "learn_alpha must be true/false"),
    ({"lr": -1}, "lr must be a finite number > 0"),
    ({"alpha": 1.5}, "0 < alpha <= 1"),
    ({"dtype": "float16"}, "dtype must be one of"),
    ({"device": "gpu"}, "device must be"),
    ({"readout": "window"}, "readout_window"),
    ({"neurons": ["lif", "lif"]}, "repeat"),
    ({"task_args": {"x": {"y": 1}}}, r"task_args\['x'\]"),
])
def test_bad_values_name_the_key(bad, match):
    with pytest.raises(ConfigError, match=match):
        config_from_dict(bad)


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="unknown format"):
        load_config(tmp_path / "c.json")
    p = tmp_path / "broken.toml"
    p.write_text("epochs = = 3\n")
    with pytest.raises(ConfigError, match="could not be parsed"):
        load_config(p)
    p = tmp_path / "list.yaml"
    p.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="table of keys"):
        load_config(p)


def test_parse_value():
    assert parse_value("3") == 3 and isinstance(parse_value("3"), int)
    assert parse_value("0.5") == 0.5 and parse_value("1e-3") == 1e-3
    assert parse_value("true") is True and parse_value("False") is False
    assert parse_value("a,b") == ["a", "b"] and parse_value("1,2") == [1, 2]
    assert parse_value("flif") == "flif"
