"""The inferop API (group inferop.dev, version v1alpha1): pydantic models, the single source of truth."""

from inferop.api.common import API_VERSION, GROUP, VERSION
from inferop.api.costpolicy import CostPolicySpec
from inferop.api.gpuclass import GPUClass, GPUClassSpec
from inferop.api.inferenceservice import InferenceService, InferenceServiceSpec
from inferop.api.tenant import TenantSpec
from inferop.api.validation import InvalidObject, describe_validation_error, parse_gpuclass, parse_isvc

__all__ = [
    "API_VERSION",
    "GROUP",
    "VERSION",
    "CostPolicySpec",
    "GPUClass",
    "GPUClassSpec",
    "InferenceService",
    "InferenceServiceSpec",
    "InvalidObject",
    "TenantSpec",
    "describe_validation_error",
    "parse_gpuclass",
    "parse_isvc",
]
