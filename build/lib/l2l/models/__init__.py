"""Models: backbones, heads (FC, AQN, Label2Label) and the ``create_model`` factory."""

from l2l.models.aqn import AQNHead, AttributeQueryNetwork
from l2l.models.backbones import create_backbone, list_backbones, register_backbone
from l2l.models.fc_head import FCHead
from l2l.models.label2label import ImageConditionedMLM, Label2LabelHead
from l2l.models.model import MultiAttributeModel
from l2l.models.registry import create_model, list_methods, register_method

__all__ = [
    "AQNHead", "AttributeQueryNetwork", "FCHead", "ImageConditionedMLM", "Label2LabelHead",
    "MultiAttributeModel", "create_backbone", "create_model", "list_backbones", "list_methods",
    "register_backbone", "register_method",
]
