// Every snippet of docs/tutorial/ is a region of a file the tests compile (snippets.hpp says how).
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "snippets.hpp"

#if !defined(WEFT_TUTORIAL_DOCS) || !defined(WEFT_TUTORIAL_SOURCES)
#error "WEFT_TUTORIAL_DOCS and WEFT_TUTORIAL_SOURCES must name docs/tutorial and tests/tutorial"
#endif

namespace {
std::map<std::string, std::string> read_all(const std::filesystem::path& dir, const std::string& extension) {
    std::map<std::string, std::string> files;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        if (entry.path().extension() != extension) continue;
        std::ifstream in(entry.path(), std::ios::binary);
        std::stringstream all;
        all << in.rdbuf();
        files[entry.path().filename().string()] = all.str();
    }
    return files;
}

std::string joined(const std::vector<std::string>& problems) {
    std::string all;
    for (const auto& p : problems) all += p + "\n";
    return all;
}

// The marker prefix split in two, so that this file's own text holds no marker.
#define MARK "// tutor" "ial:"
const std::string source = "int a;\n" MARK "begin one\nint b;\n" MARK "end one\n";
}  // namespace

TEST_CASE("tutorial snippets: docs/tutorial shows every snippet as tests/tutorial compiles it", "[tutorial]") {
    const auto docs = read_all(WEFT_TUTORIAL_DOCS, ".md");
    const auto sources = read_all(WEFT_TUTORIAL_SOURCES, ".cpp");
    REQUIRE(docs.size() >= 4);     // index, servers, clients, testing
    REQUIRE(sources.size() >= 5);
    const auto problems = tutorial::check_snippets(docs, sources);
    INFO(joined(problems));
    CHECK(problems.empty());
}

TEST_CASE("tutorial snippets: the check accepts a block equal to its region", "[tutorial]") {
    const auto problems = tutorial::check_snippets({{"a.md", "<!-- snippet: x.cpp one -->\n```cpp\nint b;\n```\n"}},
                                                   {{"x.cpp", source}});
    CHECK(problems.empty());
}

TEST_CASE("tutorial snippets: the check fails on drift, unknown markers and unmarked blocks", "[tutorial]") {
    using tutorial::check_snippets;
    const std::map<std::string, std::string> sources = {{"x.cpp", source}};
    // The shown copy differs by one character.
    CHECK(check_snippets({{"a.md", "<!-- snippet: x.cpp one -->\n```cpp\nint c;\n```\n"}}, sources).size() == 1);
    // A trailing blank line in the doc is drift too.
    CHECK(check_snippets({{"a.md", "<!-- snippet: x.cpp one -->\n```cpp\nint b;\n\n```\n"}}, sources).size() == 1);
    // An unknown region, an unknown file (and the region then shown nowhere).
    CHECK(check_snippets({{"a.md", "<!-- snippet: x.cpp two -->\n```cpp\nint b;\n```\n"}}, sources).size() == 2);
    CHECK(check_snippets({{"a.md", "<!-- snippet: y.cpp one -->\n```cpp\nint b;\n```\n"}}, sources).size() == 2);
    // A cpp block without a marker, and a region nobody shows.
    CHECK(check_snippets({{"a.md", "```cpp\nint b;\n```\n"}}, sources).size() == 2);
    // A marker of an unknown kind, an unterminated region, a region ended by another name.
    CHECK_FALSE(check_snippets({}, {{"x.cpp", MARK "start one\n"}}).empty());
    CHECK_FALSE(check_snippets({}, {{"x.cpp", MARK "begin one\nint b;\n"}}).empty());
    CHECK_FALSE(check_snippets({}, {{"x.cpp", MARK "begin one\n" MARK "end two\n"}}).empty());
    // A malformed marker, and a marker not followed by a cpp block.
    CHECK_FALSE(check_snippets({{"a.md", "<!-- snippet: x.cpp -->\n"}}, sources).empty());
    CHECK_FALSE(check_snippets({{"a.md", "<!-- snippet: x.cpp one -->\ntext\n"}}, sources).empty());
}
