/* Makes a socket, dlopens the library named in argv[1], makes another socket. */
#include <dlfcn.h>
#include "common.h"

int main(int argc, char **argv)
{
	close(socket(AF_INET, SOCK_STREAM, 0));
	if (argc < 2 || !dlopen(argv[1], RTLD_NOW)) {
		fprintf(stderr, "dlopen: %s\n", dlerror());
		return 1;
	}
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	printf("ok %d\n", fd);
	return 0;
}
