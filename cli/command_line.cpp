// SPDX-License-Identifier: GPL-2.0-or-later
#include "command_line.h"

#include <algorithm>
#include <stdexcept>

namespace keepalive::cli {
namespace {

constexpr std::size_t kWidth = 80;

const OptionSpec kHelpOption{"help", 'h', nullptr, "show this help"};

bool visible(const OptionSpec& o) {
  return !(o.flags & kHidden);
}

// Optimal string alignment distance: Levenshtein's, with the swap of two adjacent characters as
// one edit ("stauts" is one edit from "status", not two).
std::size_t editDistance(std::string_view a, std::string_view b) {
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i)
    d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j)
    d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.size()][b.size()];
}

char lower(char c) {
  return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c;
}

std::string lowered(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), lower);
  return out;
}

// Every option the parser knows for this verb: its own and the implicit --help (unless it declares
// one, as the options before the verb do).
std::vector<const OptionSpec*> known(const VerbSpec& verb) {
  std::vector<const OptionSpec*> out;
  bool help = false;
  for (const auto& o : verb.options) {
    out.push_back(&o);
    help = help || std::string_view(o.name) == kHelpOption.name;
  }
  if (!help)
    out.push_back(&kHelpOption);
  return out;
}

std::string quoted(std::string_view s) {
  return "'" + std::string(s) + "'";
}

std::string unknownOption(const VerbSpec& verb, std::string_view given, std::string_view word) {
  std::vector<std::string> names;
  for (const OptionSpec* o : known(verb))
    if (visible(*o))
      names.push_back(o->name);
  const std::string near = suggest(word, names);
  return withSuggestion("unknown option " + quoted(given), near.empty() ? "" : "--" + near);
}

// Records an option, or says why it cannot be: refused, or excluded by one already given.
std::string accept(Parsed& p, const OptionSpec& o, std::string value,
                   std::vector<const OptionSpec*>& seen) {
  if (&o == &kHelpOption) {
    p.help = true;
    return {};
  }
  if ((o.flags & kRefused) == kRefused)
    return o.help;
  if (o.exclusiveGroup) {
    for (const OptionSpec* s : seen)
      if (s != &o && s->exclusiveGroup == o.exclusiveGroup)
        return "--" + std::string(s->name) + " and --" + o.name + " exclude each other";
  }
  seen.push_back(&o);
  p.args.add(o, std::move(value));
  return {};
}

}  // namespace

const OptionSpec& Args::find(std::string_view name) const {
  if (verb_)
    for (const auto& o : verb_->options)
      if (name == o.name)
        return o;
  throw std::logic_error("keepalivectl: option --" + std::string(name) + " is not declared for " +
                         (verb_ ? verb_->name : "this verb"));
}

bool Args::has(std::string_view name) const {
  const OptionSpec* o = &find(name);
  return std::any_of(given_.begin(), given_.end(), [&](const auto& g) { return g.first == o; });
}

std::string Args::value(std::string_view name) const {
  const std::vector<std::string> all = values(name);
  return all.empty() ? std::string() : all.back();
}

std::vector<std::string> Args::values(std::string_view name) const {
  const OptionSpec* o = &find(name);
  std::vector<std::string> out;
  for (const auto& [spec, value] : given_)
    if (spec == o)
      out.push_back(value);
  return out;
}

void Args::add(const OptionSpec& option, std::string value) {
  given_.emplace_back(&option, std::move(value));
}

Parsed parseVerb(const VerbSpec& verb, std::span<const std::string> argv) {
  Parsed p{Args(verb), false, {}};
  std::vector<const OptionSpec*> seen;
  const std::vector<const OptionSpec*> options = known(verb);
  bool optionsEnded = false;
  for (std::size_t i = 0; i < argv.size() && !p.help && p.error.empty(); ++i) {
    const std::string& a = argv[i];
    if (optionsEnded && verb.operands.passThrough) {
      p.args.addPassThrough(a);
      continue;
    }
    if (optionsEnded || a.size() < 2 || a[0] != '-') {
      p.args.addOperand(a);
      continue;
    }
    if (a == "--") {
      optionsEnded = true;
      continue;
    }
    if (a[1] == '-') {
      const std::size_t eq = a.find('=');
      const std::string name = a.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
      const std::string given = "--" + name;
      // An exact name first, then a unique prefix, as getopt_long.
      std::vector<const OptionSpec*> matches;
      for (const OptionSpec* o : options)
        if (matches.empty() && name == o->name)
          matches = {o};
      if (matches.empty())
        for (const OptionSpec* o : options)
          if (!name.empty() && std::string_view(o->name).starts_with(name))
            matches.push_back(o);
      if (matches.empty()) {
        p.error = unknownOption(verb, given, name);
        break;
      }
      if (matches.size() > 1) {
        p.error = "option " + quoted(given) + " is ambiguous; possibilities:";
        for (const OptionSpec* o : matches)
          p.error += " '--" + std::string(o->name) + "'";
        break;
      }
      const OptionSpec& o = *matches.front();
      std::string value;
      if (o.value) {
        if (eq != std::string::npos)
          value = a.substr(eq + 1);
        else if (i + 1 < argv.size())
          value = argv[++i];
        else {
          p.error = "option " + quoted("--" + std::string(o.name)) + " needs a value";
          break;
        }
      } else if (eq != std::string::npos) {
        p.error = "option " + quoted("--" + std::string(o.name)) + " takes no value";
        break;
      }
      p.error = accept(p, o, std::move(value), seen);
      continue;
    }
    // One or more short options: "-q", "-qh", "-p NAME", "-pNAME".
    for (std::size_t k = 1; k < a.size() && !p.help && p.error.empty(); ++k) {
      const auto it = std::find_if(options.begin(), options.end(),
                                   [&](const OptionSpec* o) { return o->shortName == a[k]; });
      if (it == options.end()) {
        // "-json" is more likely a long option with one dash than -j -s -o -n.
        p.error = k == 1 ? unknownOption(verb, a, a.substr(1))
                         : "unknown option " + quoted(std::string("-") + a[k]);
        break;
      }
      const OptionSpec& o = **it;
      std::string value;
      if (o.value) {
        if (k + 1 < a.size())
          value = a.substr(k + 1);
        else if (i + 1 < argv.size())
          value = argv[++i];
        else {
          p.error = "option " + quoted(std::string("-") + a[k]) + " needs a value";
          break;
        }
        k = a.size();
      }
      p.error = accept(p, o, std::move(value), seen);
    }
  }
  if (p.help || !p.error.empty())
    return p;
  for (const auto& o : verb.options)
    if ((o.flags & kRequired) && !p.args.has(o.name))
      return {p.args, false,
              "--" + std::string(o.name) + (o.value ? " " + std::string(o.value) : "") +
                  " is required"};
  const std::size_t n = p.args.operands().size();
  if (n > verb.operands.max)
    p.error = "unexpected argument " + quoted(p.args.operands()[verb.operands.max]);
  else if (n == 0 && verb.operands.required)
    p.error = std::string(verb.operands.name) + " is required";
  return p;
}

std::string suggest(std::string_view typo, std::span<const std::string> candidates) {
  const std::string t = lowered(typo);
  std::string best;
  std::size_t bestDistance = 0;
  for (const auto& c : candidates) {
    // A third of the name may be wrong, and at least one letter: "jsn" is json, "stat" is status,
    // but "frobnicate" is nothing.
    const std::size_t most = std::max<std::size_t>(1, c.size() / 3);
    // The lengths' difference is a lower bound of the distance: a long argument costs nothing.
    if (t.size() > c.size() + most || c.size() > t.size() + most)
      continue;
    const std::size_t d = editDistance(t, lowered(c));
    if (d > most)
      continue;
    if (best.empty() || d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}

std::string withSuggestion(std::string message, const std::string& suggestion) {
  if (!suggestion.empty())
    message += "; did you mean " + quoted(suggestion) + "?";
  return message;
}

std::string optionLabel(const OptionSpec& o) {
  std::string out;
  if (o.shortName)
    out = std::string("-") + o.shortName + ", ";
  out += "--" + std::string(o.name);
  if (o.value)
    out += " " + std::string(o.value);
  return out;
}

std::vector<std::string> synopsisItems(std::span<const OptionSpec> options) {
  std::vector<std::string> items;
  for (std::size_t i = 0; i < options.size(); ++i) {
    const OptionSpec& o = options[i];
    if (!visible(o))
      continue;
    std::string item;
    if (o.shortName)
      item = std::string("-") + o.shortName + "|";
    item += "--" + std::string(o.name);
    // Exclusive options that follow each other are one choice: "[--sshd|--client]".
    while (o.exclusiveGroup && i + 1 < options.size() &&
           options[i + 1].exclusiveGroup == o.exclusiveGroup)
      item += "|--" + std::string(options[++i].name);
    if (o.value)
      item += " " + std::string(o.value);
    if (!(o.flags & kRequired))
      item = "[" + item + "]";
    if (o.flags & kRepeatable)
      item += "...";
    items.push_back(item);
  }
  return items;
}

namespace {

std::string operandItem(const OperandSpec& op, bool passThrough = true) {
  if (!op.name || op.max == 0)
    return {};
  std::string item = op.name;
  if (op.max > 1)
    item += "...";
  if (!op.required)
    item = "[" + item + "]";
  if (op.passThrough && passThrough)
    item += " [-- " + std::string(op.passThrough) + "...]";
  return item;
}

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items)
    if (!s.empty())
      out += (out.empty() ? "" : " ") + s;
  return out;
}

}  // namespace

std::vector<std::string> synopsisItems(const VerbSpec& verb) {
  std::vector<std::string> items = synopsisItems(verb.options);
  if (std::string op = operandItem(verb.operands); !op.empty())
    items.push_back(op);
  return items;
}

std::string synopsis(const VerbSpec& verb) {
  return joined(synopsisItems(verb));
}

std::string operandSynopsis(const VerbSpec& verb) {
  // The list of verbs keeps its column narrow: what passes through shows in the verb's --help.
  return operandItem(verb.operands, false);
}

std::string usageLine(const std::string& command, const std::vector<std::string>& items) {
  const std::string head = "Usage: " + command;
  std::string out = head, line = head;
  for (const auto& item : items) {
    if (item.empty())
      continue;
    if (line.size() + 1 + item.size() > kWidth && line.size() > head.size()) {
      out += "\n" + std::string(head.size(), ' ');
      line = std::string(head.size(), ' ');
    }
    out += " " + item;
    line += " " + item;
  }
  return out + "\n";
}

std::string helpRows(const std::vector<std::pair<std::string, std::string>>& rows) {
  std::size_t width = 0;
  for (const auto& [label, help] : rows)
    width = std::max(width, label.size());
  const std::string indent(2 + width + 2, ' ');
  std::string out;
  for (const auto& [label, help] : rows) {
    std::string line = "  " + label + std::string(width - label.size() + 2, ' ');
    bool lineEmpty = true;
    // The table's line breaks are kept; a line too long for 80 columns is wrapped between words.
    for (std::size_t b = 0; b <= help.size();) {
      std::size_t e = help.find_first_of(" \n", b);
      if (e == std::string::npos)
        e = help.size();
      const std::string word = help.substr(b, e - b);
      if (!lineEmpty && line.size() + 1 + word.size() > kWidth) {
        out += line + "\n";
        line = indent;
        lineEmpty = true;
      }
      line += (lineEmpty ? "" : " ") + word;
      lineEmpty = false;
      if (e < help.size() && help[e] == '\n') {
        out += line + "\n";
        line = indent;
        lineEmpty = true;
      }
      b = e + 1;
    }
    out += line + "\n";
  }
  return out;
}

std::string verbHelp(const std::string& program, const VerbSpec& verb) {
  std::string out = usageLine(program + " " + verb.name, synopsisItems(verb));
  if (verb.description && *verb.description)
    out += std::string("\n") + verb.description + "\n";
  std::vector<std::pair<std::string, std::string>> rows;
  for (const auto& o : verb.options)
    if (visible(o))
      rows.emplace_back(optionLabel(o), o.help);
  if (verb.operands.help)
    rows.emplace_back(verb.operands.name, verb.operands.help);
  if (!rows.empty())
    out += "\n" + helpRows(rows);
  if (verb.epilogue && *verb.epilogue)
    out += std::string("\n") + verb.epilogue + "\n";
  return out;
}

}  // namespace keepalive::cli
