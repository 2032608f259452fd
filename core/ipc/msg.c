/*
 * The schemas of every message of protocol version 1: the one place that
 * says what each request, reply and event carries. docs/protocol/ipc.md
 * lists the same tables for people; tests/unit/ipc/test_ipc.c checks that
 * every schema here is well formed and round-trips.
 *
 * Limits are chosen to bound memory per frame, not to fit any data: a
 * path is at most PATH_MAX (4096), a name 64, a message 1024 or 2048.
 */
#include "ipc/ipc.h"

#define F(k, m, n) { (k), (m), NULL, 0, (n), false }
#define SECRET(k, m, n) { (k), (m), NULL, 0, (n), true }
#define L(m, it, n) { IPC_LIST, (m), (it), (uint8_t)(sizeof(it) / sizeof((it)[0])), (n), false }
#define NAME_MAX_LEN 64
#define PATH_LEN 4096
#define TEXT_LEN 1024

static const struct ipc_field none[1] = { F(IPC_U8, 0, "unused") };

/* HELLO */
static const struct ipc_field hello[] = { F(IPC_STR, NAME_MAX_LEN, "client") };
static const struct ipc_field hello_reply[] = {
	F(IPC_STR, 32, "daemon"), F(IPC_STR, 32, "version"), F(IPC_U32, 0, "protocol"),
	F(IPC_U32, 0, "uid"), F(IPC_U32, 0, "gid"), F(IPC_U32, 0, "roles"),
	F(IPC_STR, 256, "roles_text"), F(IPC_U8, 0, "dev_mode"),
};
static const struct ipc_field status_reply[] = {
	F(IPC_STR, 32, "daemon"), F(IPC_STR, 32, "version"), F(IPC_I64, 0, "started"),
	F(IPC_U8, 0, "keystore"), F(IPC_U32, 0, "running"), F(IPC_U32, 0, "queued"),
	F(IPC_STR, TEXT_LEN, "detail"),
};

/* Keystore */
static const struct ipc_field share_item[] = { SECRET(IPC_BYTES, 4096, "share") };
static const struct ipc_field unlock[] = {
	SECRET(IPC_STR, TEXT_LEN, "passphrase"), L(64, share_item, "shares"),
};

/* Datasets */
#define DATASET_FIELDS                                                            \
	F(IPC_STR, NAME_MAX_LEN, "name"), F(IPC_STR, 32, "id"), F(IPC_U32, 0, "level"), \
	F(IPC_STR, NAME_MAX_LEN, "owner"), F(IPC_STR, 32, "suite"),                   \
	F(IPC_STR, PATH_LEN, "pool"), F(IPC_STR, PATH_LEN, "repo"),                   \
	F(IPC_I64, 0, "created"), F(IPC_U8, 0, "state"), F(IPC_I64, 0, "shredded")
static const struct ipc_field dataset_item[] = { DATASET_FIELDS };
static const struct ipc_field dataset_name[] = { F(IPC_STR, NAME_MAX_LEN, "dataset") };
static const struct ipc_field dataset_create[] = {
	F(IPC_STR, NAME_MAX_LEN, "name"), F(IPC_U32, 0, "level"),
	F(IPC_STR, NAME_MAX_LEN, "owner"), F(IPC_STR, 32, "suite"),
};
static const struct ipc_field dataset_create_reply[] = {
	F(IPC_STR, 32, "id"), F(IPC_STR, PATH_LEN, "repo"),
};
static const struct ipc_field dataset_list_reply[] = { L(10000, dataset_item, "datasets") };
static const struct ipc_field dataset_show_reply[] = { DATASET_FIELDS,
						       F(IPC_U32, 0, "key_generations") };

/* Policies */
static const struct ipc_field path_item[] = { F(IPC_STR, PATH_LEN, "path") };
#define POLICY_FIELDS                                                             \
	F(IPC_STR, 128, "calendar"), L(256, path_item, "sources"),                   \
	F(IPC_U32, 0, "keep_last"), F(IPC_U32, 0, "keep_daily"),                      \
	F(IPC_U32, 0, "keep_weekly"), F(IPC_U32, 0, "keep_monthly"),                  \
	F(IPC_U32, 0, "keep_yearly"), F(IPC_U32, 0, "verify_days")
static const struct ipc_field policy_set[] = {
	F(IPC_STR, NAME_MAX_LEN, "dataset"), F(IPC_U32, 0, "mask"), POLICY_FIELDS,
};
static const struct ipc_field policy_show_reply[] = {
	F(IPC_STR, NAME_MAX_LEN, "dataset"), POLICY_FIELDS,
};

/* Jobs of backupd */
static const struct ipc_field tag_item[] = { F(IPC_STR, NAME_MAX_LEN, "tag") };
static const struct ipc_field backup[] = {
	F(IPC_STR, NAME_MAX_LEN, "dataset"), L(256, path_item, "paths"),
	L(32, tag_item, "tags"), F(IPC_STR, 128, "request_key"), F(IPC_U32, 0, "attempt"),
	F(IPC_U8, 0, "watch"),
};
static const struct ipc_field retention[] = {
	F(IPC_STR, NAME_MAX_LEN, "dataset"), F(IPC_STR, 128, "request_key"),
	F(IPC_U32, 0, "attempt"), F(IPC_U8, 0, "watch"),
};
static const struct ipc_field job_id_reply[] = { F(IPC_U64, 0, "job") };
static const struct ipc_field snapshot_item[] = {
	F(IPC_STR, 64, "id"), F(IPC_I64, 0, "time"), F(IPC_STR, 65536, "paths"),
	F(IPC_STR, 4096, "tags"), F(IPC_STR, 256, "hostname"), F(IPC_U64, 0, "files"),
	F(IPC_U64, 0, "bytes"), F(IPC_STR, 64, "parent"),
};
static const struct ipc_field snapshots_reply[] = { L(100000, snapshot_item, "snapshots") };

/* Jobs of restored */
static const struct ipc_field restore[] = {
	F(IPC_STR, NAME_MAX_LEN, "dataset"), F(IPC_STR, 64, "snapshot"),
	F(IPC_STR, PATH_LEN, "target"), L(256, path_item, "includes"), F(IPC_U8, 0, "watch"),
};
static const struct ipc_field verify[] = {
	F(IPC_STR, NAME_MAX_LEN, "dataset"), F(IPC_U32, 0, "cycle_days"),
	F(IPC_U32, 0, "slot"), F(IPC_STR, 128, "request_key"), F(IPC_U32, 0, "attempt"),
	F(IPC_U8, 0, "watch"),
};

/* Job queries */
#define JOB_FIELDS                                                                \
	F(IPC_U64, 0, "id"), F(IPC_STR, 16, "kind"), F(IPC_STR, NAME_MAX_LEN, "dataset"), \
	F(IPC_STR, 16, "daemon"), F(IPC_STR, 16, "state"), F(IPC_U32, 0, "requested_by"), \
	F(IPC_I64, 0, "created"), F(IPC_I64, 0, "started"), F(IPC_I64, 0, "finished"),  \
	F(IPC_U64, 0, "files"), F(IPC_U64, 0, "bytes"), F(IPC_U64, 0, "errors"),         \
	F(IPC_STR, 64, "snapshot"), F(IPC_STR, TEXT_LEN, "message"),                      \
	F(IPC_U32, 0, "attempt"), F(IPC_STR, 8192, "params")
static const struct ipc_field job_item[] = { JOB_FIELDS };
static const struct ipc_field jobs[] = {
	F(IPC_STR, NAME_MAX_LEN, "dataset"), F(IPC_U32, 0, "limit"),
};
static const struct ipc_field jobs_reply[] = { L(1000, job_item, "jobs") };
static const struct ipc_field job_id[] = { F(IPC_U64, 0, "job") };
static const struct ipc_field message_item[] = {
	F(IPC_I64, 0, "time"), F(IPC_U8, 0, "level"), F(IPC_STR, 2048, "text"),
};
static const struct ipc_field job_show_reply[] = { JOB_FIELDS,
						   L(1000, message_item, "messages") };

/* Scheduler */
static const struct ipc_field schedule_item[] = {
	F(IPC_STR, NAME_MAX_LEN, "dataset"), F(IPC_STR, 16, "kind"),
	F(IPC_STR, 128, "calendar"), F(IPC_I64, 0, "next_run"), F(IPC_I64, 0, "last_slot"),
	F(IPC_U64, 0, "last_job"), F(IPC_U32, 0, "failures"), F(IPC_STR, 32, "state"),
};
static const struct ipc_field schedule_reply[] = { L(10000, schedule_item, "entries") };

/* Audit trail (docs/format/audit.md) */
static const struct ipc_field audit_read[] = {
	F(IPC_U64, 0, "offset"), F(IPC_U32, 0, "max"),
};
static const struct ipc_field audit_read_reply[] = {
	F(IPC_U32, 0, "suite"), F(IPC_STR, 8192, "public_key"), F(IPC_U32, 0, "epoch_records"),
	F(IPC_U32, 0, "epoch_seconds"), F(IPC_U32, 0, "retention_days"),
	F(IPC_U64, 0, "trail_size"), F(IPC_BYTES, 524288, "data"),
};
static const struct ipc_field audit_checkpoint_reply[] = {
	F(IPC_BYTES, 1024, "checkpoint"),
};
static const struct ipc_field audit_prune[] = { F(IPC_I64, 0, "before") };
static const struct ipc_field audit_prune_reply[] = { F(IPC_U64, 0, "removed") };

/* Destruction: approvers and requests (docs/format/erase.md) */
#define REQ_ID F(IPC_STR, 32, "request")
static const struct ipc_field approver_add[] = {
	F(IPC_STR, 32, "name"), F(IPC_STR, 16, "role"), F(IPC_STR, NAME_MAX_LEN, "user"),
	F(IPC_STR, 8192, "public_key"),
};
static const struct ipc_field approver_add_reply[] = {
	F(IPC_STR, 16, "suite"), F(IPC_STR, 64, "fingerprint"),
};
static const struct ipc_field approver_item[] = {
	F(IPC_STR, 32, "name"), F(IPC_STR, 16, "role"), F(IPC_STR, NAME_MAX_LEN, "user"),
	F(IPC_STR, 16, "suite"), F(IPC_STR, 64, "fingerprint"), F(IPC_I64, 0, "added"),
	F(IPC_STR, NAME_MAX_LEN, "added_by"), F(IPC_I64, 0, "revoked"),
	F(IPC_STR, NAME_MAX_LEN, "revoked_by"),
};
static const struct ipc_field approver_list_reply[] = { L(1000, approver_item, "approvers") };
static const struct ipc_field approver_name[] = { F(IPC_STR, 32, "name") };
static const struct ipc_field snapshot_id_item[] = { F(IPC_STR, NAME_MAX_LEN, "id") };
static const struct ipc_field erase_request[] = {
	F(IPC_STR, NAME_MAX_LEN, "dataset"), L(4096, snapshot_id_item, "snapshots"),
	F(IPC_STR, TEXT_LEN, "reason"), F(IPC_STR, TEXT_LEN, "legal_basis"),
};
static const struct ipc_field erase_request_reply[] = {
	REQ_ID, F(IPC_STR, 64, "digest"), F(IPC_STR, 160, "statement"), F(IPC_I64, 0, "expires"),
};
static const struct ipc_field erase_id[] = { REQ_ID };
static const struct ipc_field site_item[] = { F(IPC_STR, 128, "site") };
static const struct ipc_field approval_item[] = {
	F(IPC_STR, 32, "approver"), F(IPC_STR, 16, "role"), F(IPC_I64, 0, "time"),
	F(IPC_U32, 0, "by_uid"), F(IPC_U8, 0, "counts"), F(IPC_STR, 256, "why"),
};
static const struct ipc_field execution_item[] = {
	F(IPC_I64, 0, "started"), F(IPC_I64, 0, "finished"), F(IPC_STR, NAME_MAX_LEN, "executor"),
	F(IPC_STR, 16, "method"), F(IPC_I64, 0, "shredded"), F(IPC_U64, 0, "files"),
	F(IPC_U64, 0, "bytes"), F(IPC_U64, 0, "direct_files"), F(IPC_STR, TEXT_LEN, "result"),
	F(IPC_STR, 128, "phase"), F(IPC_U64, 0, "done"), F(IPC_U64, 0, "total"),
};
static const struct ipc_field erase_execute[] = { REQ_ID, F(IPC_STR, 16, "method") };
static const struct ipc_field erase_execute_reply[] = { F(IPC_STR, 16, "method") };
static const struct ipc_field erase_certificate_reply[] = { F(IPC_BYTES, 262144, "certificate") };
static const struct ipc_field erase_request_device[] = {
	F(IPC_STR, NAME_MAX_LEN, "device"), F(IPC_U32, 0, "level"),
	F(IPC_STR, TEXT_LEN, "reason"), F(IPC_STR, TEXT_LEN, "legal_basis"),
};
#define QUORUM_FIELDS                                                             \
	F(IPC_U32, 0, "approvals"), F(IPC_U32, 0, "approvals_needed"),            \
	F(IPC_U32, 0, "supervisors"), F(IPC_U8, 0, "met"), F(IPC_STR, 512, "missing")
static const struct ipc_field erase_show_reply[] = {
	REQ_ID, F(IPC_STR, 16, "state"), F(IPC_I64, 0, "since"), F(IPC_STR, 16, "suite"),
	F(IPC_I64, 0, "created"), F(IPC_I64, 0, "expires"), F(IPC_STR, NAME_MAX_LEN, "requester"),
	F(IPC_U32, 0, "requester_uid"), F(IPC_STR, NAME_MAX_LEN, "dataset"),
	F(IPC_STR, 32, "dataset_id"), F(IPC_U32, 0, "level"), F(IPC_STR, 32, "level_name"),
	F(IPC_STR, 16, "scope"), L(4096, snapshot_id_item, "snapshots"),
	F(IPC_STR, PATH_LEN, "repository"), F(IPC_U64, 0, "packs"), F(IPC_U64, 0, "files"),
	F(IPC_U64, 0, "bytes"), F(IPC_STR, 32, "keyset"), L(64, site_item, "sites"),
	F(IPC_STR, TEXT_LEN, "reason"), F(IPC_STR, TEXT_LEN, "legal_basis"),
	L(64, approval_item, "approvals"), QUORUM_FIELDS, F(IPC_STR, 64, "digest"),
	F(IPC_STR, 160, "statement"), L(1, execution_item, "execution"),
};
static const struct ipc_field erase_approve[] = {
	REQ_ID, F(IPC_STR, 32, "approver"), F(IPC_BYTES, 1024, "signature"),
};
static const struct ipc_field erase_approve_reply[] = { QUORUM_FIELDS };
static const struct ipc_field erase_item[] = {
	REQ_ID, F(IPC_STR, 16, "state"), F(IPC_STR, NAME_MAX_LEN, "dataset"),
	F(IPC_STR, 16, "scope"), F(IPC_I64, 0, "created"), F(IPC_I64, 0, "expires"),
	F(IPC_STR, NAME_MAX_LEN, "requester"), F(IPC_U8, 0, "met"),
};
static const struct ipc_field erase_list_reply[] = { L(10000, erase_item, "requests") };

/* Events */
static const struct ipc_field ev_progress[] = {
	F(IPC_U64, 0, "job"), F(IPC_U64, 0, "files"), F(IPC_U64, 0, "bytes"),
	F(IPC_U64, 0, "total"), F(IPC_U64, 0, "errors"), F(IPC_STR, PATH_LEN, "current"),
};
static const struct ipc_field ev_log[] = {
	F(IPC_U64, 0, "job"), F(IPC_U8, 0, "level"), F(IPC_STR, 2048, "text"),
};
static const struct ipc_field ev_done[] = {
	F(IPC_U64, 0, "job"), F(IPC_STR, 16, "state"), F(IPC_STR, TEXT_LEN, "message"),
	F(IPC_STR, 64, "snapshot"),
};
static const struct ipc_field error[] = {
	F(IPC_U32, 0, "code"), F(IPC_STR, TEXT_LEN, "message"),
};

#define S(t, name, f) { (t), (name), (f), (uint8_t)(sizeof(f) / sizeof((f)[0])) }
#define EMPTY(t, name) { (t), (name), none, 0 }
static const struct ipc_schema schemas[] = {
	S(IPC_HELLO, "hello", hello),
	S(IPC_HELLO | IPC_REPLY, "hello reply", hello_reply),
	EMPTY(IPC_STATUS, "status"),
	S(IPC_STATUS | IPC_REPLY, "status reply", status_reply),
	S(IPC_KEYSTORE_UNLOCK, "keystore unlock", unlock),
	EMPTY(IPC_KEYSTORE_UNLOCK | IPC_REPLY, "keystore unlock reply"),
	EMPTY(IPC_KEYSTORE_LOCK, "keystore lock"),
	EMPTY(IPC_KEYSTORE_LOCK | IPC_REPLY, "keystore lock reply"),
	S(IPC_DATASET_CREATE, "dataset create", dataset_create),
	S(IPC_DATASET_CREATE | IPC_REPLY, "dataset create reply", dataset_create_reply),
	EMPTY(IPC_DATASET_LIST, "dataset list"),
	S(IPC_DATASET_LIST | IPC_REPLY, "dataset list reply", dataset_list_reply),
	S(IPC_DATASET_SHOW, "dataset show", dataset_name),
	S(IPC_DATASET_SHOW | IPC_REPLY, "dataset show reply", dataset_show_reply),
	S(IPC_POLICY_SET, "policy set", policy_set),
	EMPTY(IPC_POLICY_SET | IPC_REPLY, "policy set reply"),
	S(IPC_POLICY_SHOW, "policy show", dataset_name),
	S(IPC_POLICY_SHOW | IPC_REPLY, "policy show reply", policy_show_reply),
	S(IPC_BACKUP, "backup", backup),
	S(IPC_BACKUP | IPC_REPLY, "backup reply", job_id_reply),
	S(IPC_RETENTION, "retention", retention),
	S(IPC_RETENTION | IPC_REPLY, "retention reply", job_id_reply),
	S(IPC_SNAPSHOTS, "snapshots", dataset_name),
	S(IPC_SNAPSHOTS | IPC_REPLY, "snapshots reply", snapshots_reply),
	S(IPC_RESTORE, "restore", restore),
	S(IPC_RESTORE | IPC_REPLY, "restore reply", job_id_reply),
	S(IPC_VERIFY, "verify", verify),
	S(IPC_VERIFY | IPC_REPLY, "verify reply", job_id_reply),
	S(IPC_JOBS, "jobs", jobs),
	S(IPC_JOBS | IPC_REPLY, "jobs reply", jobs_reply),
	S(IPC_JOB_SHOW, "job show", job_id),
	S(IPC_JOB_SHOW | IPC_REPLY, "job show reply", job_show_reply),
	S(IPC_JOB_CANCEL, "job cancel", job_id),
	EMPTY(IPC_JOB_CANCEL | IPC_REPLY, "job cancel reply"),
	S(IPC_JOB_WATCH, "job watch", job_id),
	EMPTY(IPC_JOB_WATCH | IPC_REPLY, "job watch reply"),
	EMPTY(IPC_SCHEDULE, "schedule"),
	S(IPC_SCHEDULE | IPC_REPLY, "schedule reply", schedule_reply),
	S(IPC_AUDIT_READ, "audit read", audit_read),
	S(IPC_AUDIT_READ | IPC_REPLY, "audit read reply", audit_read_reply),
	EMPTY(IPC_AUDIT_CHECKPOINT, "audit checkpoint"),
	S(IPC_AUDIT_CHECKPOINT | IPC_REPLY, "audit checkpoint reply", audit_checkpoint_reply),
	S(IPC_AUDIT_PRUNE, "audit prune", audit_prune),
	S(IPC_AUDIT_PRUNE | IPC_REPLY, "audit prune reply", audit_prune_reply),
	EMPTY(IPC_AUDIT_SEAL, "audit seal"),
	EMPTY(IPC_AUDIT_SEAL | IPC_REPLY, "audit seal reply"),
	S(IPC_APPROVER_ADD, "approver add", approver_add),
	S(IPC_APPROVER_ADD | IPC_REPLY, "approver add reply", approver_add_reply),
	EMPTY(IPC_APPROVER_LIST, "approver list"),
	S(IPC_APPROVER_LIST | IPC_REPLY, "approver list reply", approver_list_reply),
	S(IPC_APPROVER_REVOKE, "approver revoke", approver_name),
	EMPTY(IPC_APPROVER_REVOKE | IPC_REPLY, "approver revoke reply"),
	S(IPC_ERASE_REQUEST, "erase request", erase_request),
	S(IPC_ERASE_REQUEST | IPC_REPLY, "erase request reply", erase_request_reply),
	S(IPC_ERASE_SHOW, "erase show", erase_id),
	S(IPC_ERASE_SHOW | IPC_REPLY, "erase show reply", erase_show_reply),
	S(IPC_ERASE_APPROVE, "erase approve", erase_approve),
	S(IPC_ERASE_APPROVE | IPC_REPLY, "erase approve reply", erase_approve_reply),
	EMPTY(IPC_ERASE_LIST, "erase list"),
	S(IPC_ERASE_LIST | IPC_REPLY, "erase list reply", erase_list_reply),
	S(IPC_ERASE_EXECUTE, "erase execute", erase_execute),
	S(IPC_ERASE_EXECUTE | IPC_REPLY, "erase execute reply", erase_execute_reply),
	S(IPC_ERASE_CERTIFICATE, "erase certificate", erase_id),
	S(IPC_ERASE_CERTIFICATE | IPC_REPLY, "erase certificate reply", erase_certificate_reply),
	S(IPC_ERASE_REQUEST_DEVICE, "erase request device", erase_request_device),
	S(IPC_ERASE_REQUEST_DEVICE | IPC_REPLY, "erase request device reply", erase_request_reply),
	S(IPC_EV_PROGRESS, "progress event", ev_progress),
	S(IPC_EV_LOG, "log event", ev_log),
	S(IPC_EV_DONE, "done event", ev_done),
	S(IPC_ERROR, "error", error),
};

const struct ipc_schema *ipc_schema(uint16_t type)
{
	for (size_t i = 0; i < sizeof schemas / sizeof schemas[0]; i++)
		if (schemas[i].type == type)
			return &schemas[i];
	return NULL;
}

const struct ipc_schema *ipc_schema_at(size_t i)
{
	return i < sizeof schemas / sizeof schemas[0] ? &schemas[i] : NULL;
}

const char *ipc_type_name(uint16_t type)
{
	const struct ipc_schema *s = ipc_schema(type);
	return s != NULL ? s->name : "unknown";
}
