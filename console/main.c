/* coffer: the operator's console. Argument parsing and printing only. */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0) {
		fprintf(stderr, "usage: coffer COMMAND [OPTIONS]\n");
		return argc < 2 ? 1 : 0;
	}
	fprintf(stderr, "coffer: unknown command '%s'\n", argv[1]);
	return 1;
}
