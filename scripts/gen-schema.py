# Writes schemas/anycloud.schema.json. The JSON file is the committed source of truth; this script
# is how it was produced, kept so that bulk edits stay consistent. Run: python3 scripts/gen-schema.py
import json
ENVREF = r"^\$\{env:[A-Za-z_][A-Za-z0-9_]*\}$"
def s(desc, **kw): return {"type": "string", "description": desc, **kw}
def secret(desc): return {"type": "string", "description": desc + " Secret-bearing: only a `${env:NAME}` reference is accepted, never a literal value.", "pattern": ENVREF, "x-secret": True}
def url(desc): return {"type": "string", "description": desc, "pattern": r"^https?://[^\s]+$", "x-message": "must be an http:// or https:// URL"}
def b(desc): return {"type": "boolean", "description": desc}
def i(desc, **kw): return {"type": "integer", "description": desc, **kw}
def obj(desc, props, required=(), **kw):
    o = {"type": "object", "description": desc, "additionalProperties": False, "properties": props}
    if required: o["required"] = list(required)
    o.update(kw); return o
REGION = s("Default region for this credential, e.g. `us-east-1`, `eastus`, `us-central1`.", minLength=1)
NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"
cred_aws = obj("Amazon Web Services: the default credential chain or a named profile from ~/.aws.", {
  "provider": {"const": "aws", "description": "Selects the AWS credential shape."},
  "profile": s("Named profile in ~/.aws/credentials or ~/.aws/config; the default chain when absent.", minLength=1),
  "region": REGION,
  "accessKeyId": secret("Access key id."),
  "secretAccessKey": secret("Secret access key."),
  "sessionToken": secret("Session token of temporary credentials."),
  "endpoints": obj("Endpoint overrides for S3-compatible stores, emulators and tests.", {
     "s3": url("S3 endpoint URL."), "ec2": url("EC2 endpoint URL."),
     "iam": url("IAM endpoint URL."), "sts": url("STS endpoint URL.")}),
  "accountId": s("Expected AWS account id (12 digits, quoted); anycloud refuses to act when the credentials belong to another account.", pattern="^[0-9]{12}$", **{"x-message": "must be a 12-digit AWS account id, quoted (e.g. \"012345678901\")"}),
  "description": s("Free text shown by `anycloud credentials list`."),
}, ["provider"], title="AwsCredential")
cred_azure = obj("Microsoft Azure: a subscription, with a service principal or the default Azure credential chain.", {
  "provider": {"const": "azure", "description": "Selects the Azure credential shape."},
  "subscriptionId": s("Subscription id (a GUID).", pattern=r"^(\$\{env:[A-Za-z_][A-Za-z0-9_]*\}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$", **{"x-message": "must be a subscription id (a GUID such as 00000000-0000-0000-0000-000000000000) or a ${env:NAME} reference"}),
  "tenantId": s("Directory (tenant) id of the service principal.", minLength=1),
  "clientId": s("Application (client) id of the service principal.", minLength=1),
  "clientSecret": secret("Client secret of the service principal."),
  "region": REGION,
  "endpoint": url("Endpoint override for Azure Blob storage and ARM (emulators and tests)."),
  "description": s("Free text shown by `anycloud credentials list`."),
}, ["provider", "subscriptionId"], title="AzureCredential")
cred_gcp = obj("Google Cloud: a project, with a service-account key file or application default credentials.", {
  "provider": {"const": "gcp", "description": "Selects the GCP credential shape."},
  "project": s("Project id.", pattern=r"^(\$\{env:[A-Za-z_][A-Za-z0-9_]*\}|[a-z][a-z0-9-]{4,28}[a-z0-9])$", **{"x-message": "must be a GCP project id (6 to 30 lowercase letters, digits and hyphens, starting with a letter) or a ${env:NAME} reference"}),
  "keyFile": s("Path to a service-account JSON key file (a path, not the key itself); application default credentials when absent.", minLength=1),
  "region": REGION,
  "apiEndpoint": url("Endpoint override for GCS and GCE (emulators and tests)."),
  "description": s("Free text shown by `anycloud credentials list`."),
}, ["provider", "project"], title="GcpCredential")
host = obj("One machine reachable over SSH.", {
  "host": s("Host name or IP address.", minLength=1),
  "port": i("SSH port.", minimum=1, maximum=65535, default=22),
  "user": s("Login user; commands needing root use sudo when it is not root.", minLength=1),
  "identityFile": s("Path to the private key file used to log in (a path, never the key itself).", minLength=1),
  "hostKey": s("The host's public key (`ssh-ed25519 AAAA…`), pinned; when absent it is recorded on first contact and enforced from then on.", pattern=r"^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/=]+( .*)?$", **{"x-message": "must be an OpenSSH public key line such as `ssh-ed25519 AAAA…` (see the host's /etc/ssh/ssh_host_ed25519_key.pub)"}),
}, ["host", "user"], title="SshHost")
cred_ssh = obj("Machines you already have, reached over SSH.", {
  "provider": {"const": "ssh", "description": "Selects the ssh credential shape."},
  "hosts": {"type": "array", "description": "The machines, in order of preference.", "minItems": 1, "items": host},
  "storage": s("Name of the credential whose storage holds this host's buckets.", minLength=1),
  "description": s("Free text shown by `anycloud credentials list`."),
}, ["provider", "hosts"], title="SshCredential")
cred_local = obj("Everything on this machine: buckets are directories, the VM is a workspace, the workload a local process.", {
  "provider": {"const": "local", "description": "Selects the local credential shape."},
  "root": s("Directory holding buckets/ and machines/, relative to the anycloud.yaml; default `.anycloud/local`.", minLength=1),
  "description": s("Free text shown by `anycloud credentials list`."),
}, ["provider"], title="LocalCredential")
credential = {"type": "object", "description": "A named credential: references only, never secret values.",
  "discriminator": {"propertyName": "provider"},
  "oneOf": [cred_aws, cred_azure, cred_gcp, cred_ssh, cred_local]}
BUCKET = s("Bucket (S3 bucket, Azure container, GCS bucket, local directory) name.", minLength=1)
CREDREF = s("Name of a credential.", minLength=1)
def profile_props(with_extends):
  p = {
  "credentials": {"description": "Credential name, or an ordered list of names: the first that authenticates is used, the next on an authentication failure.",
     "anyOf": [CREDREF, {"type": "array", "minItems": 1, "uniqueItems": True, "items": CREDREF}]},
  "vmType": s("Exact instance type, e.g. `t3.medium`, `Standard_NC6s_v3`, `n1-standard-8`. Mutually exclusive with gpuType.", minLength=1),
  "gpuType": s("GPU by name (`a100`, `a100:8`, `h100:all`); anycloud picks the instance type. Mutually exclusive with vmType.", minLength=1),
  "gpus": {"description": "GPUs handed to the container: `all` or a count.", "anyOf": [{"const": "all"}, {"type": "integer", "minimum": 0}]},
  "region": s("Region to run in; default: the credential's region.", minLength=1),
  "zone": s("Zone within the region; default: any zone of the region, tried in order on capacity errors.", minLength=1),
  "spot": b("Run on spot/preemptible capacity; gives the deployment a checkpoint bucket."),
  "diskSizeGb": i("Root disk size in GB.", minimum=8, maximum=65536),
  "shmSize": {"description": "Shared memory size for the container, e.g. `16g`, or bytes.", "anyOf": [{"type": "string", "pattern": r"^[0-9]+[bkmgBKMG]?$", "x-message": "must be a size such as `16g`, `512m` or a number of bytes"}, {"type": "integer", "minimum": 1}]},
  "image": s("Container image, e.g. `ghcr.io/acme/train:latest`.", minLength=1),
  "command": {"description": "The command: a list of arguments, or one string run by a shell.",
     "anyOf": [s("A command line run by `sh -c`.", minLength=1), {"type": "array", "minItems": 1, "items": s("One argument.")}]},
  "env": {"type": "object", "description": "Environment variables for the workload; values may use `${env:NAME}` (treated as sensitive).",
     "propertyNames": {"pattern": r"^[A-Za-z_][A-Za-z0-9_]*$", "x-message": "environment variable names are letters, digits and `_`, not starting with a digit"}, "additionalProperties": s("Value of the variable.")},
  "runtime": {"enum": ["docker", "process"], "description": "`docker` (default when image is set) runs a container; `process` runs the command on the host."},
  "inputBucket": BUCKET | {"description": "Read-only bucket downloaded once at start to /mnt/input; must already exist."},
  "outputBucket": BUCKET | {"description": "Bucket /mnt/output is uploaded to every syncIntervalSeconds; created if missing."},
  "inputStorageCredentials": s("AWS credential holding the input bucket when it is not on the compute credential (cross-cloud storage is S3 only).", minLength=1),
  "inputStorageRegion": s("Region of the input bucket on inputStorageCredentials.", minLength=1),
  "outputStorageCredentials": s("AWS credential holding the output bucket when it is not on the compute credential (cross-cloud storage is S3 only).", minLength=1),
  "outputStorageRegion": s("Region of the output bucket on outputStorageCredentials.", minLength=1),
  "persistBucket": b("Keep the checkpoint bucket after the job completes (spot only)."),
  "persist": b("Keep the VM after the workload exits."),
  "syncIntervalSeconds": i("Seconds between uploads of /mnt/output and /mnt/checkpoint; default 60.", minimum=1, maximum=86400),
  }
  if with_extends:
    p["extends"] = s("Name of another profile to inherit from; this profile's fields override it.", minLength=1)
  return p
state = {"type": "object", "description": "Where anycloud keeps its state; default: a local file.",
  "discriminator": {"propertyName": "backend"}, "oneOf": [
  obj("State in a local file.", {"backend": {"const": "local", "description": "Local file backend."},
      "path": s("Directory of state.json, relative to the anycloud.yaml; default `.anycloud`.", minLength=1)}, ["backend"], title="LocalStateBackend"),
  obj("State in an S3 bucket, locked with conditional writes.", {"backend": {"const": "s3", "description": "S3 backend."},
      "bucket": BUCKET, "key": s("Object key of the state; default `anycloud/<project>.json`.", minLength=1),
      "region": s("Region of the bucket.", minLength=1), "credentials": CREDREF}, ["backend", "bucket"], title="S3StateBackend"),
  obj("State in a GCS bucket, locked with generation preconditions.", {"backend": {"const": "gcs", "description": "GCS backend."},
      "bucket": BUCKET, "prefix": s("Object prefix; default `anycloud/`.", minLength=1), "credentials": CREDREF}, ["backend", "bucket"], title="GcsStateBackend"),
  obj("State in an Azure Blob container, locked with blob leases.", {"backend": {"const": "azure", "description": "Azure Blob backend."},
      "container": BUCKET, "storageAccount": s("Storage account name.", pattern="^[a-z0-9]{3,24}$", **{"x-message": "must be 3 to 24 lowercase letters and digits"}),
      "key": s("Blob name; default `anycloud/<project>.json`.", minLength=1), "credentials": CREDREF}, ["backend", "container"], title="AzureStateBackend"),
]}
schema = {
 "$schema": "http://json-schema.org/draft-07/schema#",
 "$id": "https://anycloud.dev/schemas/anycloud.schema.json",
 "title": "AnycloudFile",
 "description": "anycloud.yaml, format version 1: named profiles, each a containerized job on a cloud VM.",
 "type": "object", "additionalProperties": False, "required": ["version", "profiles"],
 "properties": {
   "version": {"const": 1, "description": "Format version; must be 1."},
   "project": s("Project name used in resource names; default: the folder's name, sanitized.", pattern="^[a-z][a-z0-9-]{0,23}$", **{"x-message": "must be 1 to 24 lowercase letters, digits and hyphens, starting with a letter"}),
   "state": {"$ref": "#/definitions/state"},
   "credentials": {"type": "object", "description": "Named credentials: references only, never secret values.",
      "propertyNames": {"pattern": NAME, "x-message": "credential names are letters, digits, `_`, `.` and `-`, starting with a letter or digit"}, "additionalProperties": {"$ref": "#/definitions/credential"}},
   "defaults": {"$ref": "#/definitions/defaults"},
   "profiles": {"type": "object", "description": "Named profiles; each becomes one deployment.", "minProperties": 1,
      "additionalProperties": {"$ref": "#/definitions/profile"}},
 },
 "definitions": {
   "state": state, "credential": credential,
   "defaults": obj("Fields merged under every profile.", profile_props(False)),
   "profile": obj("One containerized job: where and how it runs, and its buckets.", profile_props(True)),
 }}
json.dump(schema, open(__import__("os").path.join(__import__("os").path.dirname(__file__), "..", "schemas", "anycloud.schema.json"), "w"), indent=2)
open(__import__("os").path.join(__import__("os").path.dirname(__file__), "..", "schemas", "anycloud.schema.json"), "a").write("\n")
