// The Catch2 main of every weft test binary: logging at warning unless WEFT_LOG_LEVEL says otherwise,
// so a failing test can be re-run with WEFT_LOG_LEVEL=debug to see its connections' state changes.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "weft/log.hpp"

int main(int argc, char* argv[]) {
    weft::init_logging("", weft::LogLevel::warning);
    return Catch::Session().run(argc, argv);
}
