// iamledger: the command line (DESIGN.md §8). Placeholder until the CLI lands.
#include <cstdio>
int main() {
  std::puts("iamledger");
  return 0;
}
