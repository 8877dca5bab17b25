import pytest

from deeptrust.card import ModelCard, Preprocessing, load_card, save_card


def make_card(**kw) -> ModelCard:
    base = dict(
        name="m",
        version="1",
        family="cnn_small",
        class_names=("FAKE", "REAL"),
        preprocessing=Preprocessing(input_size=32, crop="resize"),
        threshold=0.4,
    )
    return ModelCard(**{**base, **kw})


def test_card_round_trips_through_json(tmp_path):
    card = make_card(metrics={"validation": {"accuracy": 0.9}}, limitations=("only SD 1.x",))
    save_card(card, tmp_path)
    assert load_card(tmp_path) == card
    assert load_card(tmp_path / "card.json").real_index == 1


def test_card_is_frozen():
    with pytest.raises(AttributeError):
        make_card().threshold = 0.9  # type: ignore[misc]


def test_card_rejects_inconsistent_fields():
    with pytest.raises(ValueError, match="real_class"):
        make_card(real_class="PHOTO")
    with pytest.raises(ValueError, match="threshold"):
        make_card(threshold=1.5)


def test_unknown_fields_are_named():
    data = make_card().to_dict() | {"colour": "blue"}
    with pytest.raises(ValueError, match="colour"):
        ModelCard.from_dict(data)


def test_missing_card_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no model card"):
        load_card(tmp_path)
