"""What the backend needs from a labeling config, read with ``label_studio_sdk.label_interface``."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .errors import BadRequest

TEXT_OBJECTS = {"text", "hypertext", "paragraphs"}


@dataclass(frozen=True)
class TextClassification:
    """One ``<Choices>`` control attached to one text object: where the label goes and where the text is."""

    from_name: str
    to_name: str
    value_key: str
    choices: tuple

    def to_dict(self) -> dict:
        return {**asdict(self), "choices": list(self.choices)}  # JSON: the choices as a list


def parse_label_config(label_config) -> TextClassification:
    """The first ``<Choices>`` control whose ``toName`` is a text object with a ``$variable`` value.

    Raises :class:`BadRequest` naming what is missing, so a wrong config is a 4xx for Label Studio.
    """
    if not isinstance(label_config, str) or not label_config.strip():
        raise BadRequest("label_config is missing or empty: send the project's labeling config (XML)")
    from label_studio_sdk.label_interface import LabelInterface

    try:
        li = LabelInterface(label_config)
    except Exception as exc:  # the SDK raises several XML error types
        raise BadRequest(f"label_config is not a valid labeling config: {exc}") from None
    choices = [c for c in li.controls if c.tag.lower() == "choices"]
    if not choices:
        raise BadRequest(
            "label_config has no <Choices> tag: this backend predicts one choice per text "
            "(text classification); add <Choices name=... toName=...> with <Choice value=.../>"
        )
    for control in choices:
        for to_name in control.to_name or []:
            try:
                obj = li.get_object(to_name)
            except Exception:
                continue
            if obj.tag.lower() in TEXT_OBJECTS and obj.value_is_variable and obj.value_name:
                labels = tuple(control.labels or ())
                if len(labels) < 2:
                    raise BadRequest(
                        f"<Choices name={control.name!r}> has {len(labels)} <Choice> values; "
                        "classification needs at least two"
                    )
                return TextClassification(control.name, to_name, obj.value_name, labels)
    raise BadRequest(
        "label_config has <Choices> but none is attached (toName) to a <Text> object with a "
        '$variable value, e.g. <Text name="text" value="$text"/>'
    )
