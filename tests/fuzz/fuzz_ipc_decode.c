/*
 * Fuzz harness for the protocol decoder: any byte string is framed,
 * checked against its type's schema and, when it decodes, read field by
 * field (ipc_dump walks every field through the typed getters). A frame
 * that decodes must read back without error and consume every byte;
 * anything else is refused without a crash.
 */
#include <stdint.h>
#include <stdlib.h>

#include "ipc/ipc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t flen;
	if (ipc_frame_len(data, size, &flen) != 0)
		return 0;
	struct ipc_msg m;
	char why[256];
	if (ipc_decode(data, flen, &m, why, sizeof why) != 0)
		return 0;
	struct buf out = { 0 };
	if (ipc_dump(&m, &out) != 0)
		abort(); /* validated but unreadable: the reader and validator disagree */
	buf_fini(&out);
	return 0;
}
