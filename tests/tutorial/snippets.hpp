#pragma once
// The tutorial's snippet check: every ```cpp block of docs/tutorial/*.md is preceded by
// `<!-- snippet: FILE NAME -->` and equals, byte for byte, the lines between `// tutorial:begin NAME` and
// `// tutorial:end NAME` in tests/tutorial/FILE, which the tests compile and run.
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace tutorial {

/// One source file's regions, by name; problems (unmatched, nested or repeated markers, a marker of an
/// unknown kind) are appended to `problems`, prefixed with `file`.
inline std::map<std::string, std::string> regions_of(const std::string& file, const std::string& text,
                                                     std::vector<std::string>& problems) {
    static const std::string tag = "// tutorial:";
    std::map<std::string, std::string> regions;
    std::string open_name;
    std::string body;
    bool open = false;
    std::size_t line_no = 0;
    for (std::size_t pos = 0; pos < text.size();) {
        auto eol = text.find('\n', pos);
        const std::size_t next = eol == std::string::npos ? text.size() : eol + 1;
        const std::string line = text.substr(pos, next - pos);
        pos = next;
        ++line_no;
        const auto at = line.find(tag);
        if (at == std::string::npos) {
            if (open) body += line;
            continue;
        }
        const std::string where = file + ":" + std::to_string(line_no) + ": ";
        std::string rest = line.substr(at + tag.size());
        while (!rest.empty() && (rest.back() == '\n' || rest.back() == '\r' || rest.back() == ' ')) rest.pop_back();
        const auto space = rest.find(' ');
        const std::string kind = rest.substr(0, space);
        const std::string name = space == std::string::npos ? "" : rest.substr(space + 1);
        if ((kind != "begin" && kind != "end") || name.empty() || name.find(' ') != std::string::npos) {
            problems.push_back(where + "unknown marker '" + line.substr(at) + "'");
        } else if (kind == "begin") {
            if (open) problems.push_back(where + "begin " + name + " inside region " + open_name);
            if (regions.contains(name)) problems.push_back(where + "region " + name + " defined twice");
            open = true;
            open_name = name;
            body.clear();
        } else if (!open || name != open_name) {
            problems.push_back(where + "end " + name + " without its begin");
        } else {
            regions[name] = body;
            open = false;
        }
    }
    if (open) problems.push_back(file + ": region " + open_name + " has no end");
    return regions;
}

/// Checks `docs` (markdown file name -> text) against `sources` (file name in tests/tutorial -> text) and
/// returns what is wrong, one message each: a cpp block without a snippet marker, a marker naming an unknown
/// file or region or not followed by a ```cpp block, a block that differs from its region, a region shown
/// nowhere.
inline std::vector<std::string> check_snippets(const std::map<std::string, std::string>& docs,
                                               const std::map<std::string, std::string>& sources) {
    std::vector<std::string> problems;
    std::map<std::string, std::map<std::string, std::string>> regions;
    for (const auto& [file, text] : sources) regions[file] = regions_of(file, text, problems);
    std::set<std::pair<std::string, std::string>> shown;
    static const std::string marker = "<!-- snippet: ";
    for (const auto& [doc, text] : docs) {
        std::vector<std::string> lines;
        for (std::size_t pos = 0; pos < text.size();) {
            auto eol = text.find('\n', pos);
            const std::size_t next = eol == std::string::npos ? text.size() : eol + 1;
            lines.push_back(text.substr(pos, next - pos));
            pos = next;
        }
        for (std::size_t i = 0; i < lines.size(); ++i) {
            const std::string where = doc + ":" + std::to_string(i + 1) + ": ";
            const std::string& line = lines[i];
            if (line.rfind("```cpp", 0) == 0 && (i == 0 || lines[i - 1].rfind(marker, 0) != 0)) {
                problems.push_back(where + "a cpp block without a snippet marker before it");
                continue;
            }
            if (line.rfind(marker, 0) != 0) continue;
            const auto close = line.find(" -->");
            const std::string spec = line.substr(marker.size(), close == std::string::npos ? 0 : close - marker.size());
            const auto space = spec.find(' ');
            if (close == std::string::npos || space == std::string::npos) {
                problems.push_back(where + "a snippet marker must read <!-- snippet: FILE NAME -->");
                continue;
            }
            const std::string file = spec.substr(0, space);
            const std::string name = spec.substr(space + 1);
            if (!regions.contains(file)) {
                problems.push_back(where + "unknown file " + file);
                continue;
            }
            if (!regions[file].contains(name)) {
                problems.push_back(where + "unknown region " + name + " in " + file);
                continue;
            }
            if (i + 1 >= lines.size() || lines[i + 1] != "```cpp\n") {
                problems.push_back(where + "the snippet marker is not followed by a ```cpp line");
                continue;
            }
            std::string block;
            std::size_t j = i + 2;
            for (; j < lines.size() && lines[j].rfind("```", 0) != 0; ++j) block += lines[j];
            if (j == lines.size()) {
                problems.push_back(where + "the cpp block has no closing ```");
                continue;
            }
            shown.emplace(file, name);
            if (block != regions[file][name]) {
                problems.push_back(where + "the block differs from region " + name + " of tests/tutorial/" + file);
            }
            i = j;
        }
    }
    for (const auto& [file, named] : regions) {
        for (const auto& [name, body] : named) {
            if (!shown.contains({file, name})) problems.push_back(file + ": region " + name + " is shown nowhere");
        }
    }
    return problems;
}

}  // namespace tutorial
