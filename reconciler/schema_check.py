"""Written by fastjsonschema from launch-spec.v1.schema.json; do not edit: run `make schema-check`."""
# ruff: noqa
# mypy: ignore-errors
SCHEMA_SHA256 = "790079154402da81ba7670644e2ca5283b034148d91e03adf8723717eed28f87"
VERSION = "2.22.3"
from decimal import Decimal
import re
from fastjsonschema import JsonSchemaValueException, JsonSchemaValuesException


REGEX_PATTERNS = {
    '^[^\\s/](.*[^\\s/])?$': re.compile('^[^\\s/](.*[^\\s/])?\\Z')
}

NoneType = type(None)

def validate_https___launchops_dev_schemas_launch_spec_v1_schema_json(data, custom_formats={}, name_prefix=None):
    if not isinstance(data, (dict)):
        raise JsonSchemaValueException("" + (name_prefix or "data") + " must be object", value=data, name="" + (name_prefix or "data") + "", definition={'$schema': 'https://json-schema.org/draft/2020-12/schema', '$id': 'https://launchops.dev/schemas/launch-spec.v1.schema.json', 'title': 'launchops launch spec, apiVersion launchops/v1', 'description': 'One launch that launchops keeps enqueued on a W&B Launch queue. `launch` holds the keyword arguments of wandb.sdk.launch.launch_add under the same names.', 'type': 'object', 'additionalProperties': False, 'required': ['apiVersion', 'launch'], 'properties': {'apiVersion': {'const': 'launchops/v1', 'description': 'Always launchops/v1.'}, 'id': {'type': 'string', 'minLength': 1, 'maxLength': 180, 'pattern': '^[^\\s/](.*[^\\s/])?$', 'description': 'Stable id of the spec; default: its path under specs_dir without the extension.'}, 'description': {'type': 'string', 'description': 'Free text; not part of the digest.'}, 'labels': {'type': 'object', 'additionalProperties': {'type': ['string', 'number', 'boolean']}, 'description': 'Free labels; not part of the digest.'}, 'launch': {'type': 'object', 'additionalProperties': False, 'description': 'Keyword arguments of launch_add. Exactly one of job, docker_image, uri.', 'properties': {'job': {'type': 'string', 'minLength': 1, 'description': 'A W&B job artifact, entity/project/name:alias.'}, 'docker_image': {'type': 'string', 'minLength': 1}, 'uri': {'type': 'string', 'minLength': 1, 'description': "Valid on the local backend only: wandb's launch_add drops uri."}, 'queue_name': {'type': 'string', 'minLength': 1}, 'entity': {'type': 'string', 'minLength': 1}, 'project': {'type': 'string', 'minLength': 1}, 'project_queue': {'type': 'string', 'minLength': 1}, 'priority': {'description': 'critical|high|medium|low or 0..3 (0 = critical, as the wandb CLI).', 'oneOf': [{'enum': ['critical', 'high', 'medium', 'low']}, {'type': 'integer', 'minimum': 0, 'maximum': 3}]}, 'template_variables': {'type': 'object', 'additionalProperties': {'type': ['string', 'number']}}, 'config': {'type': 'object'}, 'resource': {'type': 'string', 'minLength': 1}, 'resource_args': {'type': 'object'}, 'entry_point': {'type': 'array', 'items': {'type': 'string'}}, 'name': {'type': 'string'}, 'version': {'type': 'string'}, 'run_id': {'type': 'string', 'minLength': 1}, 'build': {'type': 'boolean'}, 'repository': {'type': 'string'}, 'sweep_id': {'type': 'string'}, 'author': {'type': 'string'}}}, 'matrix': {'type': 'object', 'additionalProperties': False, 'required': ['axes'], 'description': "One launch per cell: the product of the axes, less exclude, plus include. ${matrix.AXIS} in launch takes a cell's value.", 'properties': {'axes': {'type': 'object', 'minProperties': 1, 'additionalProperties': {'type': 'array', 'minItems': 1}, 'description': 'Axis name -> its values (one type per axis).'}, 'include': {'type': 'array', 'items': {'type': 'object', 'minProperties': 1}, 'description': 'Extra cells; each sets every axis.'}, 'exclude': {'type': 'array', 'items': {'type': 'object', 'minProperties': 1}, 'description': 'Removes every cell it matches (a partial match).'}, 'max_cells': {'type': 'integer', 'minimum': 1, 'maximum': 4096, 'description': 'Default 256.'}}}, 'preview': {'type': 'object', 'additionalProperties': False, 'description': 'Keyword arguments of launch_add. Exactly one of job, docker_image, uri.', 'properties': {'job': {'type': 'string', 'minLength': 1, 'description': 'A W&B job artifact, entity/project/name:alias.'}, 'docker_image': {'type': 'string', 'minLength': 1}, 'uri': {'type': 'string', 'minLength': 1, 'description': "Valid on the local backend only: wandb's launch_add drops uri."}, 'queue_name': {'type': 'string', 'minLength': 1}, 'entity': {'type': 'string', 'minLength': 1}, 'project': {'type': 'string', 'minLength': 1}, 'project_queue': {'type': 'string', 'minLength': 1}, 'priority': {'description': 'critical|high|medium|low or 0..3 (0 = critical, as the wandb CLI).', 'oneOf': [{'enum': ['critical', 'high', 'medium', 'low']}, {'type': 'integer', 'minimum': 0, 'maximum': 3}]}, 'template_variables': {'type': 'object', 'additionalProperties': {'type': ['string', 'number']}}, 'config': {'type': 'object'}, 'resource': {'type': 'string', 'minLength': 1}, 'resource_args': {'type': 'object'}, 'entry_point': {'type': 'array', 'items': {'type': 'string'}}, 'name': {'type': 'string'}, 'version': {'type': 'string'}, 'run_id': {'type': 'string', 'minLength': 1}, 'build': {'type': 'boolean'}, 'repository': {'type': 'string'}, 'sweep_id': {'type': 'string'}, 'author': {'type': 'string'}}}, 'schedule': {'type': 'object', 'additionalProperties': False, 'required': ['cron'], 'description': 'Enqueue the spec once per slot (fire time) of a cron schedule, never because its file changed.', 'properties': {'cron': {'description': "Five-field cron expression(s), in the schedule's timezone.", 'type': ['string', 'array'], 'minLength': 1, 'minItems': 1, 'items': {'type': 'string', 'minLength': 1}}, 'timezone': {'type': 'string', 'minLength': 1, 'description': 'IANA name; default UTC.'}, 'start': {'description': 'Timestamp with a UTC offset (2026-12-01T00:00:00Z): no slot before it; earlier than the first apply that sees the schedule, its slots from then are due.'}, 'end': {'description': 'Timestamp with a UTC offset: no slot after it.'}, 'catchup': {'enum': ['latest', 'all', 'none'], 'description': 'Due slots an apply finds: the newest only (default), up to max_catchup of the newest, or none when more than one fell due.'}, 'max_catchup': {'type': 'integer', 'minimum': 1, 'maximum': 1000, 'description': 'With catchup: all, the newest this many; default 10.'}, 'starting_deadline': {'type': ['string', 'integer'], 'description': 'A due slot older than this (300, 15m, 6h, 2d) is recorded missed, not enqueued.'}, 'concurrency': {'enum': ['allow', 'forbid', 'replace'], 'description': "allow; forbid: skip a slot while the previous slot's item is pending or running; replace: withdraw that item if still pending."}, 'suspend': {'type': 'boolean', 'description': 'No slots while true; resuming starts after the apply that sees it (no burst).'}}}, 'moved_from': {'type': 'array', 'items': {'type': 'string', 'minLength': 1}, 'description': "Ids this spec had before (a rename): their ledger entries and history move to this spec's id."}, 'lifecycle': {'type': 'object', 'additionalProperties': False, 'description': "What launchops may do to this spec's items beyond enqueueing them.", 'properties': {'withdraw': {'type': 'boolean', 'description': 'Withdraw the still-pending item an edit or removal supersedes (default: the setting withdraw, true).'}, 'protect': {'type': 'boolean', 'description': 'plan and apply fail when this spec would be removed; no withdraw.'}}}}, '$defs': {'launch': {'type': 'object', 'additionalProperties': False, 'description': 'Keyword arguments of launch_add. Exactly one of job, docker_image, uri.', 'properties': {'job': {'type': 'string', 'minLength': 1, 'description': 'A W&B job artifact, entity/project/name:alias.'}, 'docker_image': {'type': 'string', 'minLength': 1}, 'uri': {'type': 'string', 'minLength': 1, 'description': "Valid on the local backend only: wandb's launch_add drops uri."}, 'queue_name': {'type': 'string', 'minLength': 1}, 'entity': {'type': 'string', 'minLength': 1}, 'project': {'type': 'string', 'minLength': 1}, 'project_queue': {'type': 'string', 'minLength': 1}, 'priority': {'description': 'critical|high|medium|low or 0..3 (0 = critical, as the wandb CLI).', 'oneOf': [{'enum': ['critical', 'high', 'medium', 'low']}, {'type': 'integer', 'minimum': 0, 'maximum': 3}]}, 'template_variables': {'type': 'object', 'additionalProperties': {'type': ['string', 'number']}}, 'config': {'type': 'object'}, 'resource': {'type': 'string', 'minLength': 1}, 'resource_args': {'type': 'object'}, 'entry_point': {'type': 'array', 'items': {'type': 'string'}}, 'name': {'type': 'string'}, 'version': {'type': 'string'}, 'run_id': {'type': 'string', 'minLength': 1}, 'build': {'type': 'boolean'}, 'repository': {'type': 'string'}, 'sweep_id': {'type': 'string'}, 'author': {'type': 'string'}}}, 'schedule': {'type': 'object', 'additionalProperties': False, 'required': ['cron'], 'description': 'Enqueue the spec once per slot (fire time) of a cron schedule, never because its file changed.', 'properties': {'cron': {'description': "Five-field cron expression(s), in the schedule's timezone.", 'type': ['string', 'array'], 'minLength': 1, 'minItems': 1, 'items': {'type': 'string', 'minLength': 1}}, 'timezone': {'type': 'string', 'minLength': 1, 'description': 'IANA name; default UTC.'}, 'start': {'description': 'Timestamp with a UTC offset (2026-12-01T00:00:00Z): no slot before it; earlier than the first apply that sees the schedule, its slots from then are due.'}, 'end': {'description': 'Timestamp with a UTC offset: no slot after it.'}, 'catchup': {'enum': ['latest', 'all', 'none'], 'description': 'Due slots an apply finds: the newest only (default), up to max_catchup of the newest, or none when more than one fell due.'}, 'max_catchup': {'type': 'integer', 'minimum': 1, 'maximum': 1000, 'description': 'With catchup: all, the newest this many; default 10.'}, 'starting_deadline': {'type': ['string', 'integer'], 'description': 'A due slot older than this (300, 15m, 6h, 2d) is recorded missed, not enqueued.'}, 'concurrency': {'enum': ['allow', 'forbid', 'replace'], 'description': "allow; forbid: skip a slot while the previous slot's item is pending or running; replace: withdraw that item if still pending."}, 'suspend': {'type': 'boolean', 'description': 'No slots while true; resuming starts after the apply that sees it (no burst).'}}}}}, rule='type')
    data_is_dict = isinstance(data, dict)
    if data_is_dict:
        data__missing_keys = set(['apiVersion', 'launch']) - data.keys()
        if data__missing_keys:
            raise JsonSchemaValueException("" + (name_prefix or "data") + " must contain " + (str(sorted(data__missing_keys)) + " properties"), value=data, name="" + (name_prefix or "data") + "", definition={'$schema': 'https://json-schema.org/draft/2020-12/schema', '$id': 'https://launchops.dev/schemas/launch-spec.v1.schema.json', 'title': 'launchops launch spec, apiVersion launchops/v1', 'description': 'One launch that launchops keeps enqueued on a W&B Launch queue. `launch` holds the keyword arguments of wandb.sdk.launch.launch_add under the same names.', 'type': 'object', 'additionalProperties': False, 'required': ['apiVersion', 'launch'], 'properties': {'apiVersion': {'const': 'launchops/v1', 'description': 'Always launchops/v1.'}, 'id': {'type': 'string', 'minLength': 1, 'maxLength': 180, 'pattern': '^[^\\s/](.*[^\\s/])?$', 'description': 'Stable id of the spec; default: its path under specs_dir without the extension.'}, 'description': {'type': 'string', 'description': 'Free text; not part of the digest.'}, 'labels': {'type': 'object', 'additionalProperties': {'type': ['string', 'number', 'boolean']}, 'description': 'Free labels; not part of the digest.'}, 'launch': {'type': 'object', 'additionalProperties': False, 'description': 'Keyword arguments of launch_add. Exactly one of job, docker_image, uri.', 'properties': {'job': {'type': 'string', 'minLength': 1, 'description': 'A W&B job artifact, entity/project/name:alias.'}, 'docker_image': {'type': 'string', 'minLength': 1}, 'uri': {'type': 'string', 'minLength': 1, 'description': "Valid on the local backend only: wandb's launch_add drops uri."}, 'queue_name': {'type': 'string', 'minLength': 1}, 'entity': {'type': 'string', 'minLength': 1}, 'project': {'type': 'string', 'minLength': 1}, 'project_queue': {'type': 'string', 'minLength': 1}, 'priority': {'description': 'critical|high|medium|low or 0..3 (0 = critical, as the wandb CLI).', 'oneOf': [{'enum': ['critical', 'high', 'medium', 'low']}, {'type': 'integer', 'minimum': 0, 'maximum': 3}]}, 'template_variables': {'type': 'object', 'additionalProperties': {'type': ['string', 'number']}}, 'config': {'type': 'object'}, 'resource': {'type': 'string', 'minLength': 1}, 'resource_args': {'type': 'object'}, 'entry_point': {'type': 'array', 'items': {'type': 'string'}}, 'name': {'type': 'string'}, 'version': {'type': 'string'}, 'run_id': {'type': 'string', 'minLength': 1}, 'build': {'type': 'boolean'}, 'repository': {'type': 'string'}, 'sweep_id': {'type': 'string'}, 'author': {'type': 'string'}}}, 'matrix': {'type': 'object', 'additionalProperties': False, 'required': ['axes'], 'description': "One launch per cell: the product of the axes, less exclude, plus include. ${matrix.AXIS} in launch takes a cell's value.", 'properties': {'axes': {'type': 'object', 'minProperties': 1, 'additionalProperties': {'type': 'array', 'minItems': 1}, 'description': 'Axis name -> its values (one type per axis).'}, 'include': {'type': 'array', 'items': {'type': 'object', 'minProperties': 1}, 'description': 'Extra cells; each sets every axis.'}, 'exclude': {'type': 'array', 'items': {'type': 'object', 'minProperties': 1}, 'description': 'Removes every cell it matches (a partial match).'}, 'max_cells': {'type': 'integer', 'minimum': 1, 'maximum': 4096, 'description': 'Default 256.'}}}, 'preview': {'type': 'object', 'additionalProperties': False, 'description': 'Keyword arguments of launch_add. Exactly one of job, docker_image, uri.', 'properties': {'job': {'type': 'string', 'minLength': 1, 'description': 'A W&B job artifact, entity/project/name:alias.'}, 'docker_image': {'type': 'string', 'minLength': 1}, 'uri': {'type': 'string', 'minLength': 1, 'description': "Valid on the local backend only: wandb's launch_add drops uri."}, 'queue_name': {'type': 'string', 'minLength': 1}, 'entity': {'type': 'string', 'minLength': 1}, 'project': {'type': 'string', 'minLength': 1}, 'project_queue': {'type': 'string', 'minLength': 1}, 'priority': {'description': 'critical|high|medium|low or 0..3 (0 = critical, as the wandb CLI).', 'oneOf': [{'enum': ['critical', 'high', 'medium', 'low']}, {'type': 'integer', 'minimum': 0, 'maximum': 3}]}, 'template_variables': {'type': 'object', 'additionalProperties': {'type': ['string', 'number']}}, 'config': {'type': 'object'}, 'resource': {'type': 'string', 'minLength': 1}, 'resource_args': {'type': 'object'}, 'entry_point': {'type': 'array', 'items': {'type': 'string'}}, 'name': {'type': 'string'}, 'version': {'type': 'string'}, 'run_id': {'type': 'string', 'minLength': 1}, 'build': {'type': 'boolean'}, 'repository': {'type': 'string'}, 'sweep_id': {'type': 'string'}, 'author': {'type': 'string'}}}, 'schedule': {'type': 'object', 'additionalProperties': False, 'required': ['cron'], 'description': 'Enqueue the spec once per slot (fire time) of a cron schedule, never because its file changed.', 'properties': {'cron': {'description': "Five-field cron expression(s), in the schedule's timezone.", 'type': ['string', 'array'], 'minLength': 1, 'minItems': 1, 'items': {'type': 'string', 'minLength': 1}}, 'timezone': {'type': 'string', 'minLength': 1, 'description': 'IANA name; default UTC.'}, 'start': {'description': 'Timestamp with a UTC offset (2026-12-01T00:00:00Z): no slot before it; earlier than the first apply that sees the schedule, its slots from then are due.'}, 'end': {'description': 'Timestamp with a UTC offset: no slot after it.'}, 'catchup': {'enum': ['latest', 'all', 'none'], 'description': 'Due slots an apply finds: the newest only (default), up to max_catchup of the newest, or none when more than one fell due.'}, 'max_catchup': {'type': 'integer', 'minimum': 1, 'maximum': 1000, 'description': 'With catchup: all, the newest this many; default 10.'}, 'starting_deadline': {'type': ['string', 'integer'], 'description': 'A due slot older than this (300, 15m, 6h, 2d) is recorded missed, not enqueued.'}, 'concurrency': {'enum': ['allow', 'forbid', 'replace'], 'description': "allow; forbid: skip a slot while the previous slot's item is pending or running; replace: withdraw that item if still pending."}, 'suspend': {'type': 'boolean', 'description': 'No slots while true; resuming starts after the apply that sees it (no burst).'}}}, 'moved_from': {'type': 'array', 'items': {'type': 'string', 'minLength': 1}, 'description': "Ids this spec had before (a rename): their ledger entries and history move to this spec's id."}, 'lifecycle': {'type': 'object', 'additionalProperties': False, 'description': "What launchops may do to this spec's items beyond enqueueing them.", 'properties': {'withdraw': {'type': 'boolean', 'description': 'Withdraw the still-pending item an edit or removal supersedes (default: the setting withdraw, true).'}, 'protect': {'type': 'boolean', 'description': 'plan and apply fail when this spec would be removed; no withdraw.'}}}}, '$defs': {'launch': {'type': 'object', 'additionalProperties': False, 'description': 'Keyword arguments of launch_add. Exactly one of job, docker_image, uri.', 'properties': {'job': {'type': 'string', 'minLength': 1, 'description': 'A W&B job artifact, entity/project/name:alias.'}, 'docker_image': {'type': 'string', 'minLength': 1}, 'uri': {'type': 'string', 'minLength': 1, 'description': "Valid on the local backend only: wandb's launch_add drops uri."}, 'queue_name': {'type': 'string', 'minLength': 1}, 'entity': {'type': 'string', 'minLength': 1}, 'project': {'type': 'string', 'minLength': 1}, 'project_queue': {'type': 'string', 'minLength': 1}, 'priority': {'description': 'critical|high|medium|low or 0..3 (0 = critical, as the wandb CLI).', 'oneOf': [{'enum': ['critical', 'high', 'medium', 'low']}, {'type': 'integer', 'minimum': 0, 'maximum': 3}]}, 'template_variables': {'type': 'object', 'additionalProperties': {'type': ['string', 'number']}}, 'config': {'type': 'object'}, 'resource': {'type': 'string', 'minLength': 1}, 'resource_args': {'type': 'object'}, 'entry_point': {'type': 'array', 'items': {'type': 'string'}}, 'name': {'type': 'string'}, 'version': {'type': 'string'}, 'run_id': {'type': 'string', 'minLength': 1}, 'build': {'type': 'boolean'}, 'repository': {'type': 'string'}, 'sweep_id': {'type': 'string'}, 'author': {'type': 'string'}}}, 'schedule': {'type': 'object', 'additionalProperties': False, 'required': ['cron'], 'description': 'Enqueue the spec once per slot (fire time) of a cron schedule, never because its file changed.', 'properties': {'cron': {'description': "Five-field cron expression(s), in the schedule's timezone.", 'type': ['string', 'array'], 'minLength': 1, 'minItems': 1, 'items': {'type': 'string', 'minLength': 1}}, 'timezone': {'type': 'string', 'minLength': 1, 'description': 'IANA name; default UTC.'}, 'start': {'description': 'Timestamp with a UTC offset (2026-12-01T00:00:00Z): no slot before it; earlier than the first apply that sees the schedule, its slots from then are due.'}, 'end': {'description': 'Timestamp with a UTC offset: no slot after it.'}, 'catchup': {'enum': ['latest', 'all', 'none'], 'description': 'Due slots an apply finds: the newest only (default), up to max_catchup of the newest, or none when more than one fell due.'}, 'max_catchup': {'type': 'integer', 'minimum': 1, 'maximum': 1000, 'description': 'With catchup: all, the newest this many; default 10.'}, 'starting_deadline': {'type': ['string', 'integer'], 'description': 'A due slot older than this (300, 15m, 6h, 2d) is recorded missed, not enqueued.'}, 'concurrency': {'enum': ['allow', 'forbid', 'replace'], 'description': "allow; forbid: skip a slot while the previous slot's item is pending or running; replace: withdraw that item if still pending."}, 'suspend': {'type': 'boolean', 'description': 'No slots while true; resuming starts after the apply that sees it (no burst).'}}}}}, rule='required')
        data_keys = set(data.keys())
        if "apiVersion" in data_keys:
            data_keys.remove("apiVersion")
            data__apiVersion = data["apiVersion"]
            if not (isinstance(data__apiVersion, str) and data__apiVersion == 'launchops/v1'):
                raise JsonSchemaValueException("" + (name_prefix or "data") + ".apiVersion must be same as const definition: launchops/v1", value=data__apiVersion, name="" + (name_prefix or "data") + ".apiVersion", definition={'const': 'launchops/v1', 'description': 'Always launchops/v1.'}, rule='const')
        if "id" in data_keys:
            data_keys.remove("id")
            data__id = data["id"]
            if not isinstance(data__id, (str)):
                raise JsonSchemaValueException("" + (name_prefix or "data") + ".id must be string", value=data__id, name="" + (name_prefix or "data") + ".id", definition={'type': 'string', 'minLength': 1, 'maxLength': 180, 'pattern': '^[^\\s/](.*[^\\s/])?$', 'description': 'Stable id of the spec; default: its path under specs_dir without the extension.'}, rule='type')
            if isinstance(data__id, str):
                data__id_len = len(data__id)
                if data__id_len < 1:
                    raise JsonSchemaValueException("" + (name_prefix or "data") + ".id must be longer than or equal to 1 characters", value=data__id, name="" + (name_prefix or "data") + ".id", definition={'type': 'string', 'minLength': 1, 'maxLength': 180, 'pattern': '^[^\\s/](.*[^\\s/])?$', 'description': 'Stable id of the spec; default: its path under specs_dir without the extension.'}, rule='minLength')
                if data__id_len > 180:
                    raise JsonSchemaValueException("" + (name_prefix or "data") + ".id must be shorter than or equal to 180 characters", value=data__id, name="" + (name_prefix or "data") + ".id", definition={'type': 'string', 'minLength': 1, 'maxLength': 180, 'pattern': '^[^\\s/](.*[^\\s/])?$', 'description': 'Stable id of the spec; default: its path under specs_dir without the extension.'}, rule='maxLength')
                if not REGEX_PATTERNS['^[^\\s/](.*[^\\s/])?$'].search(data__id):
                    raise JsonSchemaValueException("" + (name_prefix or "data") + ".id must match pattern ^[^\\s/](.*[^\\s/])?$", value=data__id, name="" + (name_prefix or "data") + ".id", definition={'type': 'string', 'minLength': 1, 'maxLength': 180, 'pattern': '^[^\\s/](.*[^\\s/])?$', 'description': 'Stable id of the spec; default: its path under specs_dir without the extension.'}, rule='pattern')
        if "description" in data_keys:
            data_keys.remove("description")
            data__description = data["description"]
            if not isinstance(data__description, (str)):
                raise JsonSchemaValueException("" + (name_prefix or "data") + ".description must be string", value=data__description, name="" + (name_prefix or "data") + ".description", definition={'type': 'string', 'description': 'Free text; not part of the digest.'}, rule='type')
        if "labels" in data_keys:
            data_keys.remove("labels")
            data__labels = data["labels"]
            if not isinstance(data__labels, (dict)):
                raise JsonSchemaValueException("" + (name_prefix or "data") + ".labels must be object", value=data__labels, name="" + (name_prefix or "data") + ".labels", definition={'type': 'object', 'additionalProperties': {'type': ['string', 'number', 'boolean']}, 'description': 'Free labels; not part of the digest.'}, rule='type')
            data__labels_is_dict = isinstance(data__labels, dict)
            if data__labels_is_dict:
                data__labels_keys = set(data__labels.keys())
                for data__labels_key in data__labels_keys:
                    if data__labels_key not in []:
                        data__labels_value = data__labels.get(data__labels_key)
                        if not isinstance(data__labels_value, (str, int, float, Decimal, bool)):
                            raise JsonSchemaValueException("" + (name_prefix or "data") + ".labels.{data__labels_key}".format(**locals()) + " must be string or number or boolean", value=data__labels_value, name="" + (name_prefix or "data") + ".labels.{data__labels_key}".format(**locals()) + "", definition={'type': ['string', 'number', 'boolean']}, rule='type')
        if "launch" in data_keys:
            data_keys.remove("launch")
            data__launch = data["launch"]
            validate_https___launchops_dev_schemas_launch_spec_v1_schema_json___defs_launch(data__launch, custom_formats, (name_prefix or "data") + ".launch")
        if "matrix" in data_keys:
            data_keys.remove("matrix")
            data__matrix = data["matrix"]
            if not isinstance(data__matrix, (dict)):
                raise JsonSchemaValueException("" + (name_prefix or "data") + ".matrix must be object", value=data__matrix, name="" + (name_prefix or "data") + ".matrix", definition={'type': 'object', 'additionalProperties': False, 'required': ['axes'], 'description': "One launch per cell: the product of the axes, less exclude, plus include. ${matrix.AXIS} in launch takes a cell's value.", 'properties': {'axes': {'type': 'object', 'minProperties': 1, 'additionalProperties': {'type': 'array', 'minItems': 1}, 'description': 'Axis name -> its values (one type per axis).'}, 'include': {'type': 'array', 'items': {'type': 'object', 'minProperties': 1}, 'description': 'Extra cells; each sets every axis.'}, 'exclude': {'type': 'array', 'items': {'type': 'object', 'minProperties': 1}, 'description': 'Removes every cell it matches (a partial match).'}, 'max_cells': {'type': 'integer', 'minimum': 1, 'maximum': 4096, 'description': 'Default 256.'}}}, rule='type')
            data__matrix_is_dict = isinstance(data__matrix, dict)
            if data__matrix_is_dict:
                data__matrix__missing_keys = set(['axes']) - data__matrix.keys()
                if data__matrix__missing_keys:
                    raise JsonSchemaValueException("" + (name_prefix or "data") + ".matrix must contain " + (str(sorted(data__matrix__missing_keys)) + " properties"), value=data__matrix, name="" + (name_prefix or "data") + ".matrix", definition={'type': 'object', 'additionalProperties': False, 'required': ['axes'], 'description': "One launch per cell: the product of the axes, less exclude, plus include. ${matrix.AXIS} in launch takes a cell's value.", 'properties': {'axes': {'type': 'object', 'minProperties': 1, 'additionalProperties': {'type': 'array', 'minItems': 1}, 'description': 'Axis name -> its values (one type per axis).'}, 'include': {'type': 'array', 'items': {'type': 'object', 'minProperties': 1}, 'description': 'Extra cells; each sets every axis.'}, 'exclude': {'type': 'array', 'items': {'type': 'object', 'minProperties': 1}, 'description': 'Removes every cell it matches (a partial match).'}, 'max_cells': {'type': 'integer', 'minimum': 1, 'maximum': 4096, 'description': 'Default 256.'}}}, rule='required')
                data__matrix_keys = set(data__matrix.keys())
                if "axes" in data__matrix_keys:
                    data__matrix_keys.remove("axes")
                    data__matrix__axes = data__matrix["axes"]
                    if not isinstance(data__matrix__axes, (dict)):
                        raise JsonSchemaValueException("" + (name_prefix or "data") + ".matrix.axes must be object", value=data__matrix__axes, name="" + (name_prefix or "data") + ".matrix.axes", definition={'type': 'object', 'minProperties': 1, 'additionalProperties': {'type': 'array', 'minItems': 1}, 'description': 'Axis name -> its values (one type per axis).'}, rule='type')
                    data__matrix__axes_is_dict = isinstance(data__matrix__axes, dict)
                    if data__matrix__axes_is_dict:
                        data__matrix__axes_len = len(data__matrix__axes)
                        if data__matrix__axes_len < 1:
                            raise JsonSchemaValueException("" + (name_prefix or "data") + ".matrix.axes must contain at least 1 properties", value=data__matrix__axes, name="" + (name_prefix or "data") + ".matrix.axes", definition={'type': 'object', 'minProperties': 1, 'additionalProperties': {'type': 'array', 'minItems': 1}, 'description': 'Axis name -> its values (one type per axis).'}, rule='minProperties')
                        data__matrix__axes_keys = set(data__matrix__axes.keys())
                        for data__matrix__axes_key in data__matrix__axes_keys:
                            if data__matrix__axes_key not in []:
                                data__matrix__axes_value = data__matrix__axes.get(data__matrix__axes_key)
                                if not isinstance(data__matrix__axes_value, (list, tuple)):
                                    raise JsonSchemaValueException("" + (name_prefix or "data") + ".matrix.axes.{data__matrix__axes_key}".format(**locals()) + " must be array", value=data__matrix__axes_value, name="" + (name_prefix or "data") + ".matrix.axes.{data__matrix__axes_key}".format(**locals()) + "", definition={'type': 'array', 'minItems': 1}, rule='type')
                                data__matrix__axes_value_is_list = isinstance(data__matrix__axes_value, (list, tuple))
                                if data__matrix__axes_value_is_list:
                                    data__matrix__axes_value_len = len(data__matrix__axes_value)
                                    if data__matrix__axes_value_len < 1:
                                        raise JsonSchemaValueException("" + (name_prefix or "data") + ".matrix.axes.{data__matrix__axes_key}".format(**locals()) + " must contain at least 1 items", value=data__matrix__axes_value, name="" + (name_prefix or "data") + ".matrix.axes.{data__matrix__axes_key}".format(**locals()) + "", definition={'type': 'array', 'minItems': 1}, rule='minItems')
                if "include" in data__matrix_keys:
                    data__matrix_keys.remove("include")
                    data__matrix__include = data__matrix["include"]
                    if not isinstance(data__matrix__include, (list, tuple)):
                        raise JsonSchemaValueException("" + (name_prefix or "data") + ".matrix.include must be array", value=data__matrix__include, name="" + (name_prefix or "data") + ".matrix.include", definition={'type': 'array', 'items': {'type': 'object', 'minProperties': 1}, 'description': 'Extra cells; each sets every axis.'}, rule='type')
                    data__matrix__include_is_list = isinstance(data__matrix__include, (list, tuple))
                    if data__matrix__include_is_list:
                        data__matrix__include_len = len(data__matrix__include)
                        for data__matrix__include_x, data__matrix__include_item in enumerate(data__matrix__include):
                            if not isinstance(data__matrix__include_item, (dict)):
                                raise JsonSchemaValueException("" + (name_prefix or "data") + ".matrix.include[{data__matrix__include_x}]".format(**locals()) + " must be object", value=data__matrix__include_item, name="" + (name_prefix or "data") + ".matrix.include[{data__matrix__include_x}]".format(**locals()) + "", definition={'type': 'object', 'minProperties': 1}, rule='type')
                            data__matrix__include_item_is_dict = isinstance(data__matrix__include_item, dict)
                            if data__matrix__include_item_is_dict:
                                data__matrix__include_item_len = len(data__matrix__include_item)
                                if data__matrix__include_item_len < 1:
                                    raise JsonSchemaValueException("" + (name_prefix or "data") + ".matrix.include[{data__matrix__include_x}]".format(**locals()) + " must contain at least 1 properties", value=data__matrix__include_item, name="" + (name_prefix or "data") + ".matrix.include[{data__matrix__include_x}]".format(**locals()) + "", definition={'type': 'object', 'minProperties': 1}, rule='minProperties')
                if "exclude" in data__matrix_keys:
                    data__matrix_keys.remove("exclude")
                    data__matrix__exclude = data__matrix["exclude"]
                    if not isinstance(data__matrix__exclude, (list, tuple)):
                        raise JsonSchemaValueException("" + (name_prefix or "data") + ".matrix.exclude must be array", value=data__matrix__exclude, name="" + (name_prefix or "data") + ".matrix.exclude", definition={'type': 'array', 'items': {'type': 'object', 'minProperties': 1}, 'description': 'Removes every cell it matches (a partial match).'}, rule='type')
                    data__matrix__exclude_is_list = isinstance(data__matrix__exclude, (list, tuple))
                    if data__matrix__exclude_is_list:
                        data__matrix__exclude_len = len(data__matrix__exclude)
                        for data__matrix__exclude_x, data__matrix__exclude_item in enumerate(data__matrix__exclude):
                            if not isinstance(data__matrix__exclude_item, (dict)):
                                raise JsonSchemaValueException("" + (name_prefix or "data") + ".matrix.exclude[{data__matrix__exclude_x}]".format(**locals()) + " must be object", value=data__matrix__exclude_item, name="" + (name_prefix or "data") + ".matrix.exclude[{data__matrix__exclude_x}]".format(**locals()) + "", definition={'type': 'object', 'minProperties': 1}, rule='type')
                            data__matrix__exclude_item_is_dict = isinstance(data__matrix__exclude_item, dict)
                            if data__matrix__exclude_item_is_dict:
                                data__matrix__exclude_item_len = len(data__matrix__exclude_item)
                                if data__matrix__exclude_item_len < 1:
                                    raise JsonSchemaValueException("" + (name_prefix or "data") + ".matrix.exclude[{data__matrix__exclude_x}]".format(**locals()) + " must contain at least 1 properties", value=data__matrix__exclude_item, name="" + (name_prefix or "data") + ".matrix.exclude[{data__matrix__exclude_x}]".format(**locals()) + "", definition={'type': 'object', 'minProperties': 1}, rule='minProperties')
                if "max_cells" in data__matrix_keys:
                    data__matrix_keys.remove("max_cells")
                    data__matrix__maxcells = data__matrix["max_cells"]
                    if not isinstance(data__matrix__maxcells, (int)) and not (isinstance(data__matrix__maxcells, float) and data__matrix__maxcells.is_integer()) or isinstance(data__matrix__maxcells, bool):
                        raise JsonSchemaValueException("" + (name_prefix or "data") + ".matrix.max_cells must be integer", value=data__matrix__maxcells, name="" + (name_prefix or "data") + ".matrix.max_cells", definition={'type': 'integer', 'minimum': 1, 'maximum': 4096, 'description': 'Default 256.'}, rule='type')
                    if isinstance(data__matrix__maxcells, (int, float, Decimal)) and not isinstance(data__matrix__maxcells, bool):
                        if data__matrix__maxcells < 1:
                            raise JsonSchemaValueException("" + (name_prefix or "data") + ".matrix.max_cells must be bigger than or equal to 1", value=data__matrix__maxcells, name="" + (name_prefix or "data") + ".matrix.max_cells", definition={'type': 'integer', 'minimum': 1, 'maximum': 4096, 'description': 'Default 256.'}, rule='minimum')
                        if data__matrix__maxcells > 4096:
                            raise JsonSchemaValueException("" + (name_prefix or "data") + ".matrix.max_cells must be smaller than or equal to 4096", value=data__matrix__maxcells, name="" + (name_prefix or "data") + ".matrix.max_cells", definition={'type': 'integer', 'minimum': 1, 'maximum': 4096, 'description': 'Default 256.'}, rule='maximum')
                if data__matrix_keys:
                    raise JsonSchemaValueException("" + (name_prefix or "data") + ".matrix must not contain "+str(data__matrix_keys)+" properties", value=data__matrix, name="" + (name_prefix or "data") + ".matrix", definition={'type': 'object', 'additionalProperties': False, 'required': ['axes'], 'description': "One launch per cell: the product of the axes, less exclude, plus include. ${matrix.AXIS} in launch takes a cell's value.", 'properties': {'axes': {'type': 'object', 'minProperties': 1, 'additionalProperties': {'type': 'array', 'minItems': 1}, 'description': 'Axis name -> its values (one type per axis).'}, 'include': {'type': 'array', 'items': {'type': 'object', 'minProperties': 1}, 'description': 'Extra cells; each sets every axis.'}, 'exclude': {'type': 'array', 'items': {'type': 'object', 'minProperties': 1}, 'description': 'Removes every cell it matches (a partial match).'}, 'max_cells': {'type': 'integer', 'minimum': 1, 'maximum': 4096, 'description': 'Default 256.'}}}, rule='additionalProperties')
        if "preview" in data_keys:
            data_keys.remove("preview")
            data__preview = data["preview"]
            validate_https___launchops_dev_schemas_launch_spec_v1_schema_json___defs_launch(data__preview, custom_formats, (name_prefix or "data") + ".preview")
        if "schedule" in data_keys:
            data_keys.remove("schedule")
            data__schedule = data["schedule"]
            validate_https___launchops_dev_schemas_launch_spec_v1_schema_json___defs_schedule(data__schedule, custom_formats, (name_prefix or "data") + ".schedule")
        if "moved_from" in data_keys:
            data_keys.remove("moved_from")
            data__movedfrom = data["moved_from"]
            if not isinstance(data__movedfrom, (list, tuple)):
                raise JsonSchemaValueException("" + (name_prefix or "data") + ".moved_from must be array", value=data__movedfrom, name="" + (name_prefix or "data") + ".moved_from", definition={'type': 'array', 'items': {'type': 'string', 'minLength': 1}, 'description': "Ids this spec had before (a rename): their ledger entries and history move to this spec's id."}, rule='type')
            data__movedfrom_is_list = isinstance(data__movedfrom, (list, tuple))
            if data__movedfrom_is_list:
                data__movedfrom_len = len(data__movedfrom)
                for data__movedfrom_x, data__movedfrom_item in enumerate(data__movedfrom):
                    if not isinstance(data__movedfrom_item, (str)):
                        raise JsonSchemaValueException("" + (name_prefix or "data") + ".moved_from[{data__movedfrom_x}]".format(**locals()) + " must be string", value=data__movedfrom_item, name="" + (name_prefix or "data") + ".moved_from[{data__movedfrom_x}]".format(**locals()) + "", definition={'type': 'string', 'minLength': 1}, rule='type')
                    if isinstance(data__movedfrom_item, str):
                        data__movedfrom_item_len = len(data__movedfrom_item)
                        if data__movedfrom_item_len < 1:
                            raise JsonSchemaValueException("" + (name_prefix or "data") + ".moved_from[{data__movedfrom_x}]".format(**locals()) + " must be longer than or equal to 1 characters", value=data__movedfrom_item, name="" + (name_prefix or "data") + ".moved_from[{data__movedfrom_x}]".format(**locals()) + "", definition={'type': 'string', 'minLength': 1}, rule='minLength')
        if "lifecycle" in data_keys:
            data_keys.remove("lifecycle")
            data__lifecycle = data["lifecycle"]
            if not isinstance(data__lifecycle, (dict)):
                raise JsonSchemaValueException("" + (name_prefix or "data") + ".lifecycle must be object", value=data__lifecycle, name="" + (name_prefix or "data") + ".lifecycle", definition={'type': 'object', 'additionalProperties': False, 'description': "What launchops may do to this spec's items beyond enqueueing them.", 'properties': {'withdraw': {'type': 'boolean', 'description': 'Withdraw the still-pending item an edit or removal supersedes (default: the setting withdraw, true).'}, 'protect': {'type': 'boolean', 'description': 'plan and apply fail when this spec would be removed; no withdraw.'}}}, rule='type')
            data__lifecycle_is_dict = isinstance(data__lifecycle, dict)
            if data__lifecycle_is_dict:
                data__lifecycle_keys = set(data__lifecycle.keys())
                if "withdraw" in data__lifecycle_keys:
                    data__lifecycle_keys.remove("withdraw")
                    data__lifecycle__withdraw = data__lifecycle["withdraw"]
                    if not isinstance(data__lifecycle__withdraw, (bool)):
                        raise JsonSchemaValueException("" + (name_prefix or "data") + ".lifecycle.withdraw must be boolean", value=data__lifecycle__withdraw, name="" + (name_prefix or "data") + ".lifecycle.withdraw", definition={'type': 'boolean', 'description': 'Withdraw the still-pending item an edit or removal supersedes (default: the setting withdraw, true).'}, rule='type')
                if "protect" in data__lifecycle_keys:
                    data__lifecycle_keys.remove("protect")
                    data__lifecycle__protect = data__lifecycle["protect"]
                    if not isinstance(data__lifecycle__protect, (bool)):
                        raise JsonSchemaValueException("" + (name_prefix or "data") + ".lifecycle.protect must be boolean", value=data__lifecycle__protect, name="" + (name_prefix or "data") + ".lifecycle.protect", definition={'type': 'boolean', 'description': 'plan and apply fail when this spec would be removed; no withdraw.'}, rule='type')
                if data__lifecycle_keys:
                    raise JsonSchemaValueException("" + (name_prefix or "data") + ".lifecycle must not contain "+str(data__lifecycle_keys)+" properties", value=data__lifecycle, name="" + (name_prefix or "data") + ".lifecycle", definition={'type': 'object', 'additionalProperties': False, 'description': "What launchops may do to this spec's items beyond enqueueing them.", 'properties': {'withdraw': {'type': 'boolean', 'description': 'Withdraw the still-pending item an edit or removal supersedes (default: the setting withdraw, true).'}, 'protect': {'type': 'boolean', 'description': 'plan and apply fail when this spec would be removed; no withdraw.'}}}, rule='additionalProperties')
        if data_keys:
            raise JsonSchemaValueException("" + (name_prefix or "data") + " must not contain "+str(data_keys)+" properties", value=data, name="" + (name_prefix or "data") + "", definition={'$schema': 'https://json-schema.org/draft/2020-12/schema', '$id': 'https://launchops.dev/schemas/launch-spec.v1.schema.json', 'title': 'launchops launch spec, apiVersion launchops/v1', 'description': 'One launch that launchops keeps enqueued on a W&B Launch queue. `launch` holds the keyword arguments of wandb.sdk.launch.launch_add under the same names.', 'type': 'object', 'additionalProperties': False, 'required': ['apiVersion', 'launch'], 'properties': {'apiVersion': {'const': 'launchops/v1', 'description': 'Always launchops/v1.'}, 'id': {'type': 'string', 'minLength': 1, 'maxLength': 180, 'pattern': '^[^\\s/](.*[^\\s/])?$', 'description': 'Stable id of the spec; default: its path under specs_dir without the extension.'}, 'description': {'type': 'string', 'description': 'Free text; not part of the digest.'}, 'labels': {'type': 'object', 'additionalProperties': {'type': ['string', 'number', 'boolean']}, 'description': 'Free labels; not part of the digest.'}, 'launch': {'type': 'object', 'additionalProperties': False, 'description': 'Keyword arguments of launch_add. Exactly one of job, docker_image, uri.', 'properties': {'job': {'type': 'string', 'minLength': 1, 'description': 'A W&B job artifact, entity/project/name:alias.'}, 'docker_image': {'type': 'string', 'minLength': 1}, 'uri': {'type': 'string', 'minLength': 1, 'description': "Valid on the local backend only: wandb's launch_add drops uri."}, 'queue_name': {'type': 'string', 'minLength': 1}, 'entity': {'type': 'string', 'minLength': 1}, 'project': {'type': 'string', 'minLength': 1}, 'project_queue': {'type': 'string', 'minLength': 1}, 'priority': {'description': 'critical|high|medium|low or 0..3 (0 = critical, as the wandb CLI).', 'oneOf': [{'enum': ['critical', 'high', 'medium', 'low']}, {'type': 'integer', 'minimum': 0, 'maximum': 3}]}, 'template_variables': {'type': 'object', 'additionalProperties': {'type': ['string', 'number']}}, 'config': {'type': 'object'}, 'resource': {'type': 'string', 'minLength': 1}, 'resource_args': {'type': 'object'}, 'entry_point': {'type': 'array', 'items': {'type': 'string'}}, 'name': {'type': 'string'}, 'version': {'type': 'string'}, 'run_id': {'type': 'string', 'minLength': 1}, 'build': {'type': 'boolean'}, 'repository': {'type': 'string'}, 'sweep_id': {'type': 'string'}, 'author': {'type': 'string'}}}, 'matrix': {'type': 'object', 'additionalProperties': False, 'required': ['axes'], 'description': "One launch per cell: the product of the axes, less exclude, plus include. ${matrix.AXIS} in launch takes a cell's value.", 'properties': {'axes': {'type': 'object', 'minProperties': 1, 'additionalProperties': {'type': 'array', 'minItems': 1}, 'description': 'Axis name -> its values (one type per axis).'}, 'include': {'type': 'array', 'items': {'type': 'object', 'minProperties': 1}, 'description': 'Extra cells; each sets every axis.'}, 'exclude': {'type': 'array', 'items': {'type': 'object', 'minProperties': 1}, 'description': 'Removes every cell it matches (a partial match).'}, 'max_cells': {'type': 'integer', 'minimum': 1, 'maximum': 4096, 'description': 'Default 256.'}}}, 'preview': {'type': 'object', 'additionalProperties': False, 'description': 'Keyword arguments of launch_add. Exactly one of job, docker_image, uri.', 'properties': {'job': {'type': 'string', 'minLength': 1, 'description': 'A W&B job artifact, entity/project/name:alias.'}, 'docker_image': {'type': 'string', 'minLength': 1}, 'uri': {'type': 'string', 'minLength': 1, 'description': "Valid on the local backend only: wandb's launch_add drops uri."}, 'queue_name': {'type': 'string', 'minLength': 1}, 'entity': {'type': 'string', 'minLength': 1}, 'project': {'type': 'string', 'minLength': 1}, 'project_queue': {'type': 'string', 'minLength': 1}, 'priority': {'description': 'critical|high|medium|low or 0..3 (0 = critical, as the wandb CLI).', 'oneOf': [{'enum': ['critical', 'high', 'medium', 'low']}, {'type': 'integer', 'minimum': 0, 'maximum': 3}]}, 'template_variables': {'type': 'object', 'additionalProperties': {'type': ['string', 'number']}}, 'config': {'type': 'object'}, 'resource': {'type': 'string', 'minLength': 1}, 'resource_args': {'type': 'object'}, 'entry_point': {'type': 'array', 'items': {'type': 'string'}}, 'name': {'type': 'string'}, 'version': {'type': 'string'}, 'run_id': {'type': 'string', 'minLength': 1}, 'build': {'type': 'boolean'}, 'repository': {'type': 'string'}, 'sweep_id': {'type': 'string'}, 'author': {'type': 'string'}}}, 'schedule': {'type': 'object', 'additionalProperties': False, 'required': ['cron'], 'description': 'Enqueue the spec once per slot (fire time) of a cron schedule, never because its file changed.', 'properties': {'cron': {'description': "Five-field cron expression(s), in the schedule's timezone.", 'type': ['string', 'array'], 'minLength': 1, 'minItems': 1, 'items': {'type': 'string', 'minLength': 1}}, 'timezone': {'type': 'string', 'minLength': 1, 'description': 'IANA name; default UTC.'}, 'start': {'description': 'Timestamp with a UTC offset (2026-12-01T00:00:00Z): no slot before it; earlier than the first apply that sees the schedule, its slots from then are due.'}, 'end': {'description': 'Timestamp with a UTC offset: no slot after it.'}, 'catchup': {'enum': ['latest', 'all', 'none'], 'description': 'Due slots an apply finds: the newest only (default), up to max_catchup of the newest, or none when more than one fell due.'}, 'max_catchup': {'type': 'integer', 'minimum': 1, 'maximum': 1000, 'description': 'With catchup: all, the newest this many; default 10.'}, 'starting_deadline': {'type': ['string', 'integer'], 'description': 'A due slot older than this (300, 15m, 6h, 2d) is recorded missed, not enqueued.'}, 'concurrency': {'enum': ['allow', 'forbid', 'replace'], 'description': "allow; forbid: skip a slot while the previous slot's item is pending or running; replace: withdraw that item if still pending."}, 'suspend': {'type': 'boolean', 'description': 'No slots while true; resuming starts after the apply that sees it (no burst).'}}}, 'moved_from': {'type': 'array', 'items': {'type': 'string', 'minLength': 1}, 'description': "Ids this spec had before (a rename): their ledger entries and history move to this spec's id."}, 'lifecycle': {'type': 'object', 'additionalProperties': False, 'description': "What launchops may do to this spec's items beyond enqueueing them.", 'properties': {'withdraw': {'type': 'boolean', 'description': 'Withdraw the still-pending item an edit or removal supersedes (default: the setting withdraw, true).'}, 'protect': {'type': 'boolean', 'description': 'plan and apply fail when this spec would be removed; no withdraw.'}}}}, '$defs': {'launch': {'type': 'object', 'additionalProperties': False, 'description': 'Keyword arguments of launch_add. Exactly one of job, docker_image, uri.', 'properties': {'job': {'type': 'string', 'minLength': 1, 'description': 'A W&B job artifact, entity/project/name:alias.'}, 'docker_image': {'type': 'string', 'minLength': 1}, 'uri': {'type': 'string', 'minLength': 1, 'description': "Valid on the local backend only: wandb's launch_add drops uri."}, 'queue_name': {'type': 'string', 'minLength': 1}, 'entity': {'type': 'string', 'minLength': 1}, 'project': {'type': 'string', 'minLength': 1}, 'project_queue': {'type': 'string', 'minLength': 1}, 'priority': {'description': 'critical|high|medium|low or 0..3 (0 = critical, as the wandb CLI).', 'oneOf': [{'enum': ['critical', 'high', 'medium', 'low']}, {'type': 'integer', 'minimum': 0, 'maximum': 3}]}, 'template_variables': {'type': 'object', 'additionalProperties': {'type': ['string', 'number']}}, 'config': {'type': 'object'}, 'resource': {'type': 'string', 'minLength': 1}, 'resource_args': {'type': 'object'}, 'entry_point': {'type': 'array', 'items': {'type': 'string'}}, 'name': {'type': 'string'}, 'version': {'type': 'string'}, 'run_id': {'type': 'string', 'minLength': 1}, 'build': {'type': 'boolean'}, 'repository': {'type': 'string'}, 'sweep_id': {'type': 'string'}, 'author': {'type': 'string'}}}, 'schedule': {'type': 'object', 'additionalProperties': False, 'required': ['cron'], 'description': 'Enqueue the spec once per slot (fire time) of a cron schedule, never because its file changed.', 'properties': {'cron': {'description': "Five-field cron expression(s), in the schedule's timezone.", 'type': ['string', 'array'], 'minLength': 1, 'minItems': 1, 'items': {'type': 'string', 'minLength': 1}}, 'timezone': {'type': 'string', 'minLength': 1, 'description': 'IANA name; default UTC.'}, 'start': {'description': 'Timestamp with a UTC offset (2026-12-01T00:00:00Z): no slot before it; earlier than the first apply that sees the schedule, its slots from then are due.'}, 'end': {'description': 'Timestamp with a UTC offset: no slot after it.'}, 'catchup': {'enum': ['latest', 'all', 'none'], 'description': 'Due slots an apply finds: the newest only (default), up to max_catchup of the newest, or none when more than one fell due.'}, 'max_catchup': {'type': 'integer', 'minimum': 1, 'maximum': 1000, 'description': 'With catchup: all, the newest this many; default 10.'}, 'starting_deadline': {'type': ['string', 'integer'], 'description': 'A due slot older than this (300, 15m, 6h, 2d) is recorded missed, not enqueued.'}, 'concurrency': {'enum': ['allow', 'forbid', 'replace'], 'description': "allow; forbid: skip a slot while the previous slot's item is pending or running; replace: withdraw that item if still pending."}, 'suspend': {'type': 'boolean', 'description': 'No slots while true; resuming starts after the apply that sees it (no burst).'}}}}}, rule='additionalProperties')
    return data

def validate_https___launchops_dev_schemas_launch_spec_v1_schema_json___defs_schedule(data, custom_formats={}, name_prefix=None):
    if not isinstance(data, (dict)):
        raise JsonSchemaValueException("" + (name_prefix or "data") + " must be object", value=data, name="" + (name_prefix or "data") + "", definition={'type': 'object', 'additionalProperties': False, 'required': ['cron'], 'description': 'Enqueue the spec once per slot (fire time) of a cron schedule, never because its file changed.', 'properties': {'cron': {'description': "Five-field cron expression(s), in the schedule's timezone.", 'type': ['string', 'array'], 'minLength': 1, 'minItems': 1, 'items': {'type': 'string', 'minLength': 1}}, 'timezone': {'type': 'string', 'minLength': 1, 'description': 'IANA name; default UTC.'}, 'start': {'description': 'Timestamp with a UTC offset (2026-12-01T00:00:00Z): no slot before it; earlier than the first apply that sees the schedule, its slots from then are due.'}, 'end': {'description': 'Timestamp with a UTC offset: no slot after it.'}, 'catchup': {'enum': ['latest', 'all', 'none'], 'description': 'Due slots an apply finds: the newest only (default), up to max_catchup of the newest, or none when more than one fell due.'}, 'max_catchup': {'type': 'integer', 'minimum': 1, 'maximum': 1000, 'description': 'With catchup: all, the newest this many; default 10.'}, 'starting_deadline': {'type': ['string', 'integer'], 'description': 'A due slot older than this (300, 15m, 6h, 2d) is recorded missed, not enqueued.'}, 'concurrency': {'enum': ['allow', 'forbid', 'replace'], 'description': "allow; forbid: skip a slot while the previous slot's item is pending or running; replace: withdraw that item if still pending."}, 'suspend': {'type': 'boolean', 'description': 'No slots while true; resuming starts after the apply that sees it (no burst).'}}}, rule='type')
    data_is_dict = isinstance(data, dict)
    if data_is_dict:
        data__missing_keys = set(['cron']) - data.keys()
        if data__missing_keys:
            raise JsonSchemaValueException("" + (name_prefix or "data") + " must contain " + (str(sorted(data__missing_keys)) + " properties"), value=data, name="" + (name_prefix or "data") + "", definition={'type': 'object', 'additionalProperties': False, 'required': ['cron'], 'description': 'Enqueue the spec once per slot (fire time) of a cron schedule, never because its file changed.', 'properties': {'cron': {'description': "Five-field cron expression(s), in the schedule's timezone.", 'type': ['string', 'array'], 'minLength': 1, 'minItems': 1, 'items': {'type': 'string', 'minLength': 1}}, 'timezone': {'type': 'string', 'minLength': 1, 'description': 'IANA name; default UTC.'}, 'start': {'description': 'Timestamp with a UTC offset (2026-12-01T00:00:00Z): no slot before it; earlier than the first apply that sees the schedule, its slots from then are due.'}, 'end': {'description': 'Timestamp with a UTC offset: no slot after it.'}, 'catchup': {'enum': ['latest', 'all', 'none'], 'description': 'Due slots an apply finds: the newest only (default), up to max_catchup of the newest, or none when more than one fell due.'}, 'max_catchup': {'type': 'integer', 'minimum': 1, 'maximum': 1000, 'description': 'With catchup: all, the newest this many; default 10.'}, 'starting_deadline': {'type': ['string', 'integer'], 'description': 'A due slot older than this (300, 15m, 6h, 2d) is recorded missed, not enqueued.'}, 'concurrency': {'enum': ['allow', 'forbid', 'replace'], 'description': "allow; forbid: skip a slot while the previous slot's item is pending or running; replace: withdraw that item if still pending."}, 'suspend': {'type': 'boolean', 'description': 'No slots while true; resuming starts after the apply that sees it (no burst).'}}}, rule='required')
        data_keys = set(data.keys())
        if "cron" in data_keys:
            data_keys.remove("cron")
            data__cron = data["cron"]
            if not isinstance(data__cron, (str, list, tuple)):
                raise JsonSchemaValueException("" + (name_prefix or "data") + ".cron must be string or array", value=data__cron, name="" + (name_prefix or "data") + ".cron", definition={'description': "Five-field cron expression(s), in the schedule's timezone.", 'type': ['string', 'array'], 'minLength': 1, 'minItems': 1, 'items': {'type': 'string', 'minLength': 1}}, rule='type')
            if isinstance(data__cron, str):
                data__cron_len = len(data__cron)
                if data__cron_len < 1:
                    raise JsonSchemaValueException("" + (name_prefix or "data") + ".cron must be longer than or equal to 1 characters", value=data__cron, name="" + (name_prefix or "data") + ".cron", definition={'description': "Five-field cron expression(s), in the schedule's timezone.", 'type': ['string', 'array'], 'minLength': 1, 'minItems': 1, 'items': {'type': 'string', 'minLength': 1}}, rule='minLength')
            data__cron_is_list = isinstance(data__cron, (list, tuple))
            if data__cron_is_list:
                data__cron_len = len(data__cron)
                if data__cron_len < 1:
                    raise JsonSchemaValueException("" + (name_prefix or "data") + ".cron must contain at least 1 items", value=data__cron, name="" + (name_prefix or "data") + ".cron", definition={'description': "Five-field cron expression(s), in the schedule's timezone.", 'type': ['string', 'array'], 'minLength': 1, 'minItems': 1, 'items': {'type': 'string', 'minLength': 1}}, rule='minItems')
                for data__cron_x, data__cron_item in enumerate(data__cron):
                    if not isinstance(data__cron_item, (str)):
                        raise JsonSchemaValueException("" + (name_prefix or "data") + ".cron[{data__cron_x}]".format(**locals()) + " must be string", value=data__cron_item, name="" + (name_prefix or "data") + ".cron[{data__cron_x}]".format(**locals()) + "", definition={'type': 'string', 'minLength': 1}, rule='type')
                    if isinstance(data__cron_item, str):
                        data__cron_item_len = len(data__cron_item)
                        if data__cron_item_len < 1:
                            raise JsonSchemaValueException("" + (name_prefix or "data") + ".cron[{data__cron_x}]".format(**locals()) + " must be longer than or equal to 1 characters", value=data__cron_item, name="" + (name_prefix or "data") + ".cron[{data__cron_x}]".format(**locals()) + "", definition={'type': 'string', 'minLength': 1}, rule='minLength')
        if "timezone" in data_keys:
            data_keys.remove("timezone")
            data__timezone = data["timezone"]
            if not isinstance(data__timezone, (str)):
                raise JsonSchemaValueException("" + (name_prefix or "data") + ".timezone must be string", value=data__timezone, name="" + (name_prefix or "data") + ".timezone", definition={'type': 'string', 'minLength': 1, 'description': 'IANA name; default UTC.'}, rule='type')
            if isinstance(data__timezone, str):
                data__timezone_len = len(data__timezone)
                if data__timezone_len < 1:
                    raise JsonSchemaValueException("" + (name_prefix or "data") + ".timezone must be longer than or equal to 1 characters", value=data__timezone, name="" + (name_prefix or "data") + ".timezone", definition={'type': 'string', 'minLength': 1, 'description': 'IANA name; default UTC.'}, rule='minLength')
        if "start" in data_keys:
            data_keys.remove("start")
            data__start = data["start"]
        if "end" in data_keys:
            data_keys.remove("end")
            data__end = data["end"]
        if "catchup" in data_keys:
            data_keys.remove("catchup")
            data__catchup = data["catchup"]
            if not (isinstance(data__catchup, str) and data__catchup == 'latest' or isinstance(data__catchup, str) and data__catchup == 'all' or isinstance(data__catchup, str) and data__catchup == 'none'):
                raise JsonSchemaValueException("" + (name_prefix or "data") + ".catchup must be one of ['latest', 'all', 'none']", value=data__catchup, name="" + (name_prefix or "data") + ".catchup", definition={'enum': ['latest', 'all', 'none'], 'description': 'Due slots an apply finds: the newest only (default), up to max_catchup of the newest, or none when more than one fell due.'}, rule='enum')
        if "max_catchup" in data_keys:
            data_keys.remove("max_catchup")
            data__maxcatchup = data["max_catchup"]
            if not isinstance(data__maxcatchup, (int)) and not (isinstance(data__maxcatchup, float) and data__maxcatchup.is_integer()) or isinstance(data__maxcatchup, bool):
                raise JsonSchemaValueException("" + (name_prefix or "data") + ".max_catchup must be integer", value=data__maxcatchup, name="" + (name_prefix or "data") + ".max_catchup", definition={'type': 'integer', 'minimum': 1, 'maximum': 1000, 'description': 'With catchup: all, the newest this many; default 10.'}, rule='type')
            if isinstance(data__maxcatchup, (int, float, Decimal)) and not isinstance(data__maxcatchup, bool):
                if data__maxcatchup < 1:
                    raise JsonSchemaValueException("" + (name_prefix or "data") + ".max_catchup must be bigger than or equal to 1", value=data__maxcatchup, name="" + (name_prefix or "data") + ".max_catchup", definition={'type': 'integer', 'minimum': 1, 'maximum': 1000, 'description': 'With catchup: all, the newest this many; default 10.'}, rule='minimum')
                if data__maxcatchup > 1000:
                    raise JsonSchemaValueException("" + (name_prefix or "data") + ".max_catchup must be smaller than or equal to 1000", value=data__maxcatchup, name="" + (name_prefix or "data") + ".max_catchup", definition={'type': 'integer', 'minimum': 1, 'maximum': 1000, 'description': 'With catchup: all, the newest this many; default 10.'}, rule='maximum')
        if "starting_deadline" in data_keys:
            data_keys.remove("starting_deadline")
            data__startingdeadline = data["starting_deadline"]
            if not isinstance(data__startingdeadline, (str, int)) and not (isinstance(data__startingdeadline, float) and data__startingdeadline.is_integer()) or isinstance(data__startingdeadline, bool):
                raise JsonSchemaValueException("" + (name_prefix or "data") + ".starting_deadline must be string or integer", value=data__startingdeadline, name="" + (name_prefix or "data") + ".starting_deadline", definition={'type': ['string', 'integer'], 'description': 'A due slot older than this (300, 15m, 6h, 2d) is recorded missed, not enqueued.'}, rule='type')
        if "concurrency" in data_keys:
            data_keys.remove("concurrency")
            data__concurrency = data["concurrency"]
            if not (isinstance(data__concurrency, str) and data__concurrency == 'allow' or isinstance(data__concurrency, str) and data__concurrency == 'forbid' or isinstance(data__concurrency, str) and data__concurrency == 'replace'):
                raise JsonSchemaValueException("" + (name_prefix or "data") + ".concurrency must be one of ['allow', 'forbid', 'replace']", value=data__concurrency, name="" + (name_prefix or "data") + ".concurrency", definition={'enum': ['allow', 'forbid', 'replace'], 'description': "allow; forbid: skip a slot while the previous slot's item is pending or running; replace: withdraw that item if still pending."}, rule='enum')
        if "suspend" in data_keys:
            data_keys.remove("suspend")
            data__suspend = data["suspend"]
            if not isinstance(data__suspend, (bool)):
                raise JsonSchemaValueException("" + (name_prefix or "data") + ".suspend must be boolean", value=data__suspend, name="" + (name_prefix or "data") + ".suspend", definition={'type': 'boolean', 'description': 'No slots while true; resuming starts after the apply that sees it (no burst).'}, rule='type')
        if data_keys:
            raise JsonSchemaValueException("" + (name_prefix or "data") + " must not contain "+str(data_keys)+" properties", value=data, name="" + (name_prefix or "data") + "", definition={'type': 'object', 'additionalProperties': False, 'required': ['cron'], 'description': 'Enqueue the spec once per slot (fire time) of a cron schedule, never because its file changed.', 'properties': {'cron': {'description': "Five-field cron expression(s), in the schedule's timezone.", 'type': ['string', 'array'], 'minLength': 1, 'minItems': 1, 'items': {'type': 'string', 'minLength': 1}}, 'timezone': {'type': 'string', 'minLength': 1, 'description': 'IANA name; default UTC.'}, 'start': {'description': 'Timestamp with a UTC offset (2026-12-01T00:00:00Z): no slot before it; earlier than the first apply that sees the schedule, its slots from then are due.'}, 'end': {'description': 'Timestamp with a UTC offset: no slot after it.'}, 'catchup': {'enum': ['latest', 'all', 'none'], 'description': 'Due slots an apply finds: the newest only (default), up to max_catchup of the newest, or none when more than one fell due.'}, 'max_catchup': {'type': 'integer', 'minimum': 1, 'maximum': 1000, 'description': 'With catchup: all, the newest this many; default 10.'}, 'starting_deadline': {'type': ['string', 'integer'], 'description': 'A due slot older than this (300, 15m, 6h, 2d) is recorded missed, not enqueued.'}, 'concurrency': {'enum': ['allow', 'forbid', 'replace'], 'description': "allow; forbid: skip a slot while the previous slot's item is pending or running; replace: withdraw that item if still pending."}, 'suspend': {'type': 'boolean', 'description': 'No slots while true; resuming starts after the apply that sees it (no burst).'}}}, rule='additionalProperties')
    return data

def validate_https___launchops_dev_schemas_launch_spec_v1_schema_json___defs_launch(data, custom_formats={}, name_prefix=None):
    if not isinstance(data, (dict)):
        raise JsonSchemaValueException("" + (name_prefix or "data") + " must be object", value=data, name="" + (name_prefix or "data") + "", definition={'type': 'object', 'additionalProperties': False, 'description': 'Keyword arguments of launch_add. Exactly one of job, docker_image, uri.', 'properties': {'job': {'type': 'string', 'minLength': 1, 'description': 'A W&B job artifact, entity/project/name:alias.'}, 'docker_image': {'type': 'string', 'minLength': 1}, 'uri': {'type': 'string', 'minLength': 1, 'description': "Valid on the local backend only: wandb's launch_add drops uri."}, 'queue_name': {'type': 'string', 'minLength': 1}, 'entity': {'type': 'string', 'minLength': 1}, 'project': {'type': 'string', 'minLength': 1}, 'project_queue': {'type': 'string', 'minLength': 1}, 'priority': {'description': 'critical|high|medium|low or 0..3 (0 = critical, as the wandb CLI).', 'oneOf': [{'enum': ['critical', 'high', 'medium', 'low']}, {'type': 'integer', 'minimum': 0, 'maximum': 3}]}, 'template_variables': {'type': 'object', 'additionalProperties': {'type': ['string', 'number']}}, 'config': {'type': 'object'}, 'resource': {'type': 'string', 'minLength': 1}, 'resource_args': {'type': 'object'}, 'entry_point': {'type': 'array', 'items': {'type': 'string'}}, 'name': {'type': 'string'}, 'version': {'type': 'string'}, 'run_id': {'type': 'string', 'minLength': 1}, 'build': {'type': 'boolean'}, 'repository': {'type': 'string'}, 'sweep_id': {'type': 'string'}, 'author': {'type': 'string'}}}, rule='type')
    data_is_dict = isinstance(data, dict)
    if data_is_dict:
        data_keys = set(data.keys())
        if "job" in data_keys:
            data_keys.remove("job")
            data__job = data["job"]
            if not isinstance(data__job, (str)):
                raise JsonSchemaValueException("" + (name_prefix or "data") + ".job must be string", value=data__job, name="" + (name_prefix or "data") + ".job", definition={'type': 'string', 'minLength': 1, 'description': 'A W&B job artifact, entity/project/name:alias.'}, rule='type')
            if isinstance(data__job, str):
                data__job_len = len(data__job)
                if data__job_len < 1:
                    raise JsonSchemaValueException("" + (name_prefix or "data") + ".job must be longer than or equal to 1 characters", value=data__job, name="" + (name_prefix or "data") + ".job", definition={'type': 'string', 'minLength': 1, 'description': 'A W&B job artifact, entity/project/name:alias.'}, rule='minLength')
        if "docker_image" in data_keys:
            data_keys.remove("docker_image")
            data__dockerimage = data["docker_image"]
            if not isinstance(data__dockerimage, (str)):
                raise JsonSchemaValueException("" + (name_prefix or "data") + ".docker_image must be string", value=data__dockerimage, name="" + (name_prefix or "data") + ".docker_image", definition={'type': 'string', 'minLength': 1}, rule='type')
            if isinstance(data__dockerimage, str):
                data__dockerimage_len = len(data__dockerimage)
                if data__dockerimage_len < 1:
                    raise JsonSchemaValueException("" + (name_prefix or "data") + ".docker_image must be longer than or equal to 1 characters", value=data__dockerimage, name="" + (name_prefix or "data") + ".docker_image", definition={'type': 'string', 'minLength': 1}, rule='minLength')
        if "uri" in data_keys:
            data_keys.remove("uri")
            data__uri = data["uri"]
            if not isinstance(data__uri, (str)):
                raise JsonSchemaValueException("" + (name_prefix or "data") + ".uri must be string", value=data__uri, name="" + (name_prefix or "data") + ".uri", definition={'type': 'string', 'minLength': 1, 'description': "Valid on the local backend only: wandb's launch_add drops uri."}, rule='type')
            if isinstance(data__uri, str):
                data__uri_len = len(data__uri)
                if data__uri_len < 1:
                    raise JsonSchemaValueException("" + (name_prefix or "data") + ".uri must be longer than or equal to 1 characters", value=data__uri, name="" + (name_prefix or "data") + ".uri", definition={'type': 'string', 'minLength': 1, 'description': "Valid on the local backend only: wandb's launch_add drops uri."}, rule='minLength')
        if "queue_name" in data_keys:
            data_keys.remove("queue_name")
            data__queuename = data["queue_name"]
            if not isinstance(data__queuename, (str)):
                raise JsonSchemaValueException("" + (name_prefix or "data") + ".queue_name must be string", value=data__queuename, name="" + (name_prefix or "data") + ".queue_name", definition={'type': 'string', 'minLength': 1}, rule='type')
            if isinstance(data__queuename, str):
                data__queuename_len = len(data__queuename)
                if data__queuename_len < 1:
                    raise JsonSchemaValueException("" + (name_prefix or "data") + ".queue_name must be longer than or equal to 1 characters", value=data__queuename, name="" + (name_prefix or "data") + ".queue_name", definition={'type': 'string', 'minLength': 1}, rule='minLength')
        if "entity" in data_keys:
            data_keys.remove("entity")
            data__entity = data["entity"]
            if not isinstance(data__entity, (str)):
                raise JsonSchemaValueException("" + (name_prefix or "data") + ".entity must be string", value=data__entity, name="" + (name_prefix or "data") + ".entity", definition={'type': 'string', 'minLength': 1}, rule='type')
            if isinstance(data__entity, str):
                data__entity_len = len(data__entity)
                if data__entity_len < 1:
                    raise JsonSchemaValueException("" + (name_prefix or "data") + ".entity must be longer than or equal to 1 characters", value=data__entity, name="" + (name_prefix or "data") + ".entity", definition={'type': 'string', 'minLength': 1}, rule='minLength')
        if "project" in data_keys:
            data_keys.remove("project")
            data__project = data["project"]
            if not isinstance(data__project, (str)):
                raise JsonSchemaValueException("" + (name_prefix or "data") + ".project must be string", value=data__project, name="" + (name_prefix or "data") + ".project", definition={'type': 'string', 'minLength': 1}, rule='type')
            if isinstance(data__project, str):
                data__project_len = len(data__project)
                if data__project_len < 1:
                    raise JsonSchemaValueException("" + (name_prefix or "data") + ".project must be longer than or equal to 1 characters", value=data__project, name="" + (name_prefix or "data") + ".project", definition={'type': 'string', 'minLength': 1}, rule='minLength')
        if "project_queue" in data_keys:
            data_keys.remove("project_queue")
            data__projectqueue = data["project_queue"]
            if not isinstance(data__projectqueue, (str)):
                raise JsonSchemaValueException("" + (name_prefix or "data") + ".project_queue must be string", value=data__projectqueue, name="" + (name_prefix or "data") + ".project_queue", definition={'type': 'string', 'minLength': 1}, rule='type')
            if isinstance(data__projectqueue, str):
                data__projectqueue_len = len(data__projectqueue)
                if data__projectqueue_len < 1:
                    raise JsonSchemaValueException("" + (name_prefix or "data") + ".project_queue must be longer than or equal to 1 characters", value=data__projectqueue, name="" + (name_prefix or "data") + ".project_queue", definition={'type': 'string', 'minLength': 1}, rule='minLength')
        if "priority" in data_keys:
            data_keys.remove("priority")
            data__priority = data["priority"]
            data__priority_one_of_count1 = 0
            if data__priority_one_of_count1 < 2:
                try:
                    if not (isinstance(data__priority, str) and data__priority == 'critical' or isinstance(data__priority, str) and data__priority == 'high' or isinstance(data__priority, str) and data__priority == 'medium' or isinstance(data__priority, str) and data__priority == 'low'):
                        raise JsonSchemaValueException("" + (name_prefix or "data") + ".priority must be one of ['critical', 'high', 'medium', 'low']", value=data__priority, name="" + (name_prefix or "data") + ".priority", definition={'enum': ['critical', 'high', 'medium', 'low']}, rule='enum')
                    data__priority_one_of_count1 += 1
                except (JsonSchemaValueException, JsonSchemaValuesException): pass
            if data__priority_one_of_count1 < 2:
                try:
                    if not isinstance(data__priority, (int)) and not (isinstance(data__priority, float) and data__priority.is_integer()) or isinstance(data__priority, bool):
                        raise JsonSchemaValueException("" + (name_prefix or "data") + ".priority must be integer", value=data__priority, name="" + (name_prefix or "data") + ".priority", definition={'type': 'integer', 'minimum': 0, 'maximum': 3}, rule='type')
                    if isinstance(data__priority, (int, float, Decimal)) and not isinstance(data__priority, bool):
                        if data__priority < 0:
                            raise JsonSchemaValueException("" + (name_prefix or "data") + ".priority must be bigger than or equal to 0", value=data__priority, name="" + (name_prefix or "data") + ".priority", definition={'type': 'integer', 'minimum': 0, 'maximum': 3}, rule='minimum')
                        if data__priority > 3:
                            raise JsonSchemaValueException("" + (name_prefix or "data") + ".priority must be smaller than or equal to 3", value=data__priority, name="" + (name_prefix or "data") + ".priority", definition={'type': 'integer', 'minimum': 0, 'maximum': 3}, rule='maximum')
                    data__priority_one_of_count1 += 1
                except (JsonSchemaValueException, JsonSchemaValuesException): pass
            if data__priority_one_of_count1 != 1:
                raise JsonSchemaValueException("" + (name_prefix or "data") + ".priority must be valid exactly by one definition" + (" (" + str(data__priority_one_of_count1) + " matches found)"), value=data__priority, name="" + (name_prefix or "data") + ".priority", definition={'description': 'critical|high|medium|low or 0..3 (0 = critical, as the wandb CLI).', 'oneOf': [{'enum': ['critical', 'high', 'medium', 'low']}, {'type': 'integer', 'minimum': 0, 'maximum': 3}]}, rule='oneOf')
        if "template_variables" in data_keys:
            data_keys.remove("template_variables")
            data__templatevariables = data["template_variables"]
            if not isinstance(data__templatevariables, (dict)):
                raise JsonSchemaValueException("" + (name_prefix or "data") + ".template_variables must be object", value=data__templatevariables, name="" + (name_prefix or "data") + ".template_variables", definition={'type': 'object', 'additionalProperties': {'type': ['string', 'number']}}, rule='type')
            data__templatevariables_is_dict = isinstance(data__templatevariables, dict)
            if data__templatevariables_is_dict:
                data__templatevariables_keys = set(data__templatevariables.keys())
                for data__templatevariables_key in data__templatevariables_keys:
                    if data__templatevariables_key not in []:
                        data__templatevariables_value = data__templatevariables.get(data__templatevariables_key)
                        if not isinstance(data__templatevariables_value, (str, int, float, Decimal)) or isinstance(data__templatevariables_value, bool):
                            raise JsonSchemaValueException("" + (name_prefix or "data") + ".template_variables.{data__templatevariables_key}".format(**locals()) + " must be string or number", value=data__templatevariables_value, name="" + (name_prefix or "data") + ".template_variables.{data__templatevariables_key}".format(**locals()) + "", definition={'type': ['string', 'number']}, rule='type')
        if "config" in data_keys:
            data_keys.remove("config")
            data__config = data["config"]
            if not isinstance(data__config, (dict)):
                raise JsonSchemaValueException("" + (name_prefix or "data") + ".config must be object", value=data__config, name="" + (name_prefix or "data") + ".config", definition={'type': 'object'}, rule='type')
        if "resource" in data_keys:
            data_keys.remove("resource")
            data__resource = data["resource"]
            if not isinstance(data__resource, (str)):
                raise JsonSchemaValueException("" + (name_prefix or "data") + ".resource must be string", value=data__resource, name="" + (name_prefix or "data") + ".resource", definition={'type': 'string', 'minLength': 1}, rule='type')
            if isinstance(data__resource, str):
                data__resource_len = len(data__resource)
                if data__resource_len < 1:
                    raise JsonSchemaValueException("" + (name_prefix or "data") + ".resource must be longer than or equal to 1 characters", value=data__resource, name="" + (name_prefix or "data") + ".resource", definition={'type': 'string', 'minLength': 1}, rule='minLength')
        if "resource_args" in data_keys:
            data_keys.remove("resource_args")
            data__resourceargs = data["resource_args"]
            if not isinstance(data__resourceargs, (dict)):
                raise JsonSchemaValueException("" + (name_prefix or "data") + ".resource_args must be object", value=data__resourceargs, name="" + (name_prefix or "data") + ".resource_args", definition={'type': 'object'}, rule='type')
        if "entry_point" in data_keys:
            data_keys.remove("entry_point")
            data__entrypoint = data["entry_point"]
            if not isinstance(data__entrypoint, (list, tuple)):
                raise JsonSchemaValueException("" + (name_prefix or "data") + ".entry_point must be array", value=data__entrypoint, name="" + (name_prefix or "data") + ".entry_point", definition={'type': 'array', 'items': {'type': 'string'}}, rule='type')
            data__entrypoint_is_list = isinstance(data__entrypoint, (list, tuple))
            if data__entrypoint_is_list:
                data__entrypoint_len = len(data__entrypoint)
                for data__entrypoint_x, data__entrypoint_item in enumerate(data__entrypoint):
                    if not isinstance(data__entrypoint_item, (str)):
                        raise JsonSchemaValueException("" + (name_prefix or "data") + ".entry_point[{data__entrypoint_x}]".format(**locals()) + " must be string", value=data__entrypoint_item, name="" + (name_prefix or "data") + ".entry_point[{data__entrypoint_x}]".format(**locals()) + "", definition={'type': 'string'}, rule='type')
        if "name" in data_keys:
            data_keys.remove("name")
            data__name = data["name"]
            if not isinstance(data__name, (str)):
                raise JsonSchemaValueException("" + (name_prefix or "data") + ".name must be string", value=data__name, name="" + (name_prefix or "data") + ".name", definition={'type': 'string'}, rule='type')
        if "version" in data_keys:
            data_keys.remove("version")
            data__version = data["version"]
            if not isinstance(data__version, (str)):
                raise JsonSchemaValueException("" + (name_prefix or "data") + ".version must be string", value=data__version, name="" + (name_prefix or "data") + ".version", definition={'type': 'string'}, rule='type')
        if "run_id" in data_keys:
            data_keys.remove("run_id")
            data__runid = data["run_id"]
            if not isinstance(data__runid, (str)):
                raise JsonSchemaValueException("" + (name_prefix or "data") + ".run_id must be string", value=data__runid, name="" + (name_prefix or "data") + ".run_id", definition={'type': 'string', 'minLength': 1}, rule='type')
            if isinstance(data__runid, str):
                data__runid_len = len(data__runid)
                if data__runid_len < 1:
                    raise JsonSchemaValueException("" + (name_prefix or "data") + ".run_id must be longer than or equal to 1 characters", value=data__runid, name="" + (name_prefix or "data") + ".run_id", definition={'type': 'string', 'minLength': 1}, rule='minLength')
        if "build" in data_keys:
            data_keys.remove("build")
            data__build = data["build"]
            if not isinstance(data__build, (bool)):
                raise JsonSchemaValueException("" + (name_prefix or "data") + ".build must be boolean", value=data__build, name="" + (name_prefix or "data") + ".build", definition={'type': 'boolean'}, rule='type')
        if "repository" in data_keys:
            data_keys.remove("repository")
            data__repository = data["repository"]
            if not isinstance(data__repository, (str)):
                raise JsonSchemaValueException("" + (name_prefix or "data") + ".repository must be string", value=data__repository, name="" + (name_prefix or "data") + ".repository", definition={'type': 'string'}, rule='type')
        if "sweep_id" in data_keys:
            data_keys.remove("sweep_id")
            data__sweepid = data["sweep_id"]
            if not isinstance(data__sweepid, (str)):
                raise JsonSchemaValueException("" + (name_prefix or "data") + ".sweep_id must be string", value=data__sweepid, name="" + (name_prefix or "data") + ".sweep_id", definition={'type': 'string'}, rule='type')
        if "author" in data_keys:
            data_keys.remove("author")
            data__author = data["author"]
            if not isinstance(data__author, (str)):
                raise JsonSchemaValueException("" + (name_prefix or "data") + ".author must be string", value=data__author, name="" + (name_prefix or "data") + ".author", definition={'type': 'string'}, rule='type')
        if data_keys:
            raise JsonSchemaValueException("" + (name_prefix or "data") + " must not contain "+str(data_keys)+" properties", value=data, name="" + (name_prefix or "data") + "", definition={'type': 'object', 'additionalProperties': False, 'description': 'Keyword arguments of launch_add. Exactly one of job, docker_image, uri.', 'properties': {'job': {'type': 'string', 'minLength': 1, 'description': 'A W&B job artifact, entity/project/name:alias.'}, 'docker_image': {'type': 'string', 'minLength': 1}, 'uri': {'type': 'string', 'minLength': 1, 'description': "Valid on the local backend only: wandb's launch_add drops uri."}, 'queue_name': {'type': 'string', 'minLength': 1}, 'entity': {'type': 'string', 'minLength': 1}, 'project': {'type': 'string', 'minLength': 1}, 'project_queue': {'type': 'string', 'minLength': 1}, 'priority': {'description': 'critical|high|medium|low or 0..3 (0 = critical, as the wandb CLI).', 'oneOf': [{'enum': ['critical', 'high', 'medium', 'low']}, {'type': 'integer', 'minimum': 0, 'maximum': 3}]}, 'template_variables': {'type': 'object', 'additionalProperties': {'type': ['string', 'number']}}, 'config': {'type': 'object'}, 'resource': {'type': 'string', 'minLength': 1}, 'resource_args': {'type': 'object'}, 'entry_point': {'type': 'array', 'items': {'type': 'string'}}, 'name': {'type': 'string'}, 'version': {'type': 'string'}, 'run_id': {'type': 'string', 'minLength': 1}, 'build': {'type': 'boolean'}, 'repository': {'type': 'string'}, 'sweep_id': {'type': 'string'}, 'author': {'type': 'string'}}}, rule='additionalProperties')
    return data

validate = validate_https___launchops_dev_schemas_launch_spec_v1_schema_json
