/*
 * Replay driver: feeds every file of the given directories (or files) to
 * LLVMFuzzerTestOneInput, so that builds without libFuzzer still run the
 * committed corpus and crash reproducers on every test run.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		perror(path);
		return 1;
	}
	uint8_t *data = NULL;
	size_t len = 0, cap = 0;
	for (;;) {
		if (len == cap) {
			cap = cap ? cap * 2 : 4096;
			uint8_t *n = realloc(data, cap);
			if (n == NULL) {
				free(data);
				fclose(f);
				return 1;
			}
			data = n;
		}
		size_t r = fread(data + len, 1, cap - len, f);
		if (r == 0)
			break;
		len += r;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(data, len);
	free(data);
	return 0;
}

int main(int argc, char **argv)
{
	int runs = 0, rc = 0;
	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) != 0)
			continue; /* an empty corpus directory may be absent */
		if (!S_ISDIR(st.st_mode)) {
			rc |= replay_file(argv[i]);
			runs++;
			continue;
		}
		DIR *d = opendir(argv[i]);
		if (d == NULL)
			continue;
		struct dirent *e;
		while ((e = readdir(d)) != NULL) {
			if (e->d_name[0] == '.')
				continue;
			char path[4096];
			snprintf(path, sizeof path, "%s/%s", argv[i], e->d_name);
			rc |= replay_file(path);
			runs++;
		}
		closedir(d);
	}
	/* The empty input is always a case worth replaying. */
	LLVMFuzzerTestOneInput((const uint8_t *)"", 0);
	printf("replayed %d inputs\n", runs + 1);
	return rc;
}
