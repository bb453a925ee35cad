#include "albert_cl.h"
int main(void) { return 2; }
