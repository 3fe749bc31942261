#include <iostream>

#include "core/version.h"

int main() {
  std::cout << "perturbgen " << PERTURBGEN_VERSION << "\n";
}
