"""The knowledge base: materials, substitution rules, transport and benefit factors, industry profiles.

The data lives as CSV and YAML in ``seed_data/reference/`` (see its README); this package loads it into
immutable, validated records::

    from matching.knowledge import default_knowledge_base

    kb = default_knowledge_base()
    [r.replaces for r in kb.rules_from("fly_ash")]
"""

from matching.knowledge.loader import DEFAULT_KB_DIR, default_knowledge_base, kb_dir, load_knowledge_base, need_service
from matching.knowledge.models import (
    CONFIDENCES,
    FORMS,
    HW_CODES,
    Attribute,
    Confidence,
    DisposalCategory,
    Factor,
    Form,
    GateResult,
    IndustryProfile,
    Intensity,
    KBIssue,
    KnowledgeBase,
    KnowledgeBaseError,
    Material,
    QualityGate,
    QuantityRange,
    Restriction,
    SubstitutionRule,
    Target,
    TransportMode,
    UnknownMaterial,
    normalise_province,
)

__all__ = [
    "CONFIDENCES",
    "DEFAULT_KB_DIR",
    "FORMS",
    "HW_CODES",
    "Attribute",
    "Confidence",
    "DisposalCategory",
    "Factor",
    "Form",
    "GateResult",
    "IndustryProfile",
    "Intensity",
    "KBIssue",
    "KnowledgeBase",
    "KnowledgeBaseError",
    "Material",
    "QualityGate",
    "QuantityRange",
    "Restriction",
    "SubstitutionRule",
    "Target",
    "TransportMode",
    "UnknownMaterial",
    "default_knowledge_base",
    "kb_dir",
    "load_knowledge_base",
    "need_service",
    "normalise_province",
]
