// SPDX-License-Identifier: GPL-2.0-or-later
#include "completion.h"

#include "core/disconnects.h"
#include "core/status.h"
#include "verbs.h"

namespace keepalive::cli {
namespace {

std::vector<std::string> splitBar(std::string_view s) {
  std::vector<std::string> out;
  std::size_t b = 0;
  for (std::size_t e; (e = s.find('|', b)) != std::string_view::npos; b = e + 1)
    out.emplace_back(s.substr(b, e - b));
  out.emplace_back(s.substr(b));
  return out;
}

std::string joined(const std::vector<std::string>& words, const char* sep = " ") {
  std::string out;
  for (const auto& w : words)
    out += (out.empty() ? "" : sep) + w;
  return out;
}

const OptionSpec* findOption(const VerbSpec& verb, std::string_view name) {
  for (const auto& o : verb.options)
    if (name == o.name)
      return &o;
  return nullptr;
}

std::vector<const OptionSpec*> visibleOptions(const VerbSpec& verb) {
  std::vector<const OptionSpec*> out;
  for (const auto& o : verb.options)
    if (!(o.flags & kHidden))
      out.push_back(&o);
  return out;
}

// "-q --quiet --strict ... -h --help": what a verb's options complete to.
std::string optionWords(const VerbSpec& verb, bool withHelp) {
  std::vector<std::string> words;
  for (const OptionSpec* o : visibleOptions(verb)) {
    if (o->shortName)
      words.push_back(std::string("-") + o->shortName);
    words.push_back(std::string("--") + o->name);
  }
  if (withHelp) {
    words.emplace_back("-h");
    words.emplace_back("--help");
  }
  return joined(words);
}

std::vector<std::string> verbNames() {
  std::vector<std::string> out;
  for (const auto& v : verbTable())
    out.emplace_back(v.name);
  return out;
}

// Shell-quoted in single quotes.
std::string quoted(std::string_view s) {
  std::string out = "'";
  for (char c : s)
    out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// A help text as a zsh description: its first line, at most about 70 columns, without the
// characters _arguments gives a meaning to (the brackets around it, a backslash); a value's name
// (in _arguments' ":MESSAGE:ACTION") without colons either.
std::string describe(const char* help, bool message = false) {
  std::string out;
  for (const char* p = help; p && *p && *p != '\n'; ++p) {
    const char c = *p;
    if (c == '[' || c == ']' || c == '\\' || (message && c == ':'))
      continue;
    out += c;
  }
  if (out.size() > 72) {
    std::size_t cut = out.rfind(' ', 68);
    out = out.substr(0, cut == std::string::npos ? 68 : cut) + " ...";
  }
  return out;
}

// ---- bash ----

std::string bashAction(const Completion& c) {
  switch (c.kind) {
    case CompletionKind::kPolicyFiles:
      return "_keepalivectl_reply files";
    case CompletionKind::kDirectories:
      return "_keepalivectl_reply dirs";
    case CompletionKind::kUsers:
      return "_keepalivectl_reply users";
    case CompletionKind::kHosts:
      return "_keepalivectl_reply hosts";
    case CompletionKind::kWords:
      return "_keepalivectl_reply words " + quoted(joined(c.words));
    case CompletionKind::kNone:
      break;
  }
  return ":";
}

std::string bashScript() {
  std::string s =
      "# bash completion for keepalivectl                         -*- shell-script -*-\n"
      "# Generated from keepalivectl's table of verbs and options (cli/verb_table.cpp) by\n"
      "# keepalivectl-completion: do not edit.\n"
      "\n"
      "# _keepalivectl_reply KIND [WORDS]: COMPREPLY for $cur.\n"
      "_keepalivectl_reply() {\n"
      "    local IFS=$'\\n'\n"
      "    case $1 in\n"
      "        files)\n"
      "            compopt -o filenames 2>/dev/null\n"
      "            COMPREPLY=($(compgen -d -- \"$cur\") $(compgen -f -X '!*.yaml' -- \"$cur\")) "
      ";;\n"
      "        dirs)\n"
      "            compopt -o filenames 2>/dev/null\n"
      "            COMPREPLY=($(compgen -d -- \"$cur\")) ;;\n"
      "        users) COMPREPLY=($(compgen -u -- \"$cur\")) ;;\n"
      "        hosts) COMPREPLY=($(compgen -A hostname -- \"$cur\")) ;;\n"
      "        words) IFS=$' \\t\\n'; COMPREPLY=($(compgen -W \"$2\" -- \"$cur\")) ;;\n"
      "    esac\n"
      "}\n"
      "\n"
      "_keepalivectl() {\n"
      "    local cur=${COMP_WORDS[COMP_CWORD]} prev= opt= verb= i\n"
      "    ((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}\n"
      "    COMPREPLY=()\n"
      "    # The verb: the first word after the options before it.\n"
      "    for ((i = 1; i < COMP_CWORD; i++)); do\n"
      "        case ${COMP_WORDS[i]} in\n"
      "            -*) ;;\n"
      "            *) verb=${COMP_WORDS[i]}; break ;;\n"
      "        esac\n"
      "    done\n"
      "    # The option whose value is being completed: --opt VALUE, or --opt=VALUE (bash splits\n"
      "    # the = off as a word of its own).\n"
      "    opt=$prev\n"
      "    if [[ $cur == = ]]; then\n"
      "        cur=\n"
      "    elif [[ $prev == = ]] && ((COMP_CWORD > 1)); then\n"
      "        opt=${COMP_WORDS[COMP_CWORD - 2]}\n"
      "    fi\n"
      "    case $verb in\n"
      "        '')\n"
      "            if [[ $cur == -* ]]; then\n"
      "                _keepalivectl_reply words " +
      quoted(optionWords(globalOptions(), false)) +
      "\n"
      "            else\n"
      "                _keepalivectl_reply words " +
      quoted(joined(verbNames())) +
      "\n"
      "            fi ;;\n";
  for (const auto& v : verbTable()) {
    s += "        " + std::string(v.name) + ")\n";
    std::string valued;
    for (const OptionSpec* o : visibleOptions(v)) {
      if (!o->value)
        continue;
      std::string pattern = std::string("--") + o->name;
      if (o->shortName)
        pattern += std::string("|-") + o->shortName;
      valued += "                " + pattern + ") " + bashAction(completionFor(v.name, o->name)) +
                "; return ;;\n";
    }
    if (!valued.empty())
      s += "            case $opt in\n" + valued + "            esac\n";
    s += "            if [[ $cur == -* ]]; then\n"
         "                _keepalivectl_reply words " +
         quoted(optionWords(v, true)) +
         "\n"
         "            else\n"
         "                " +
         bashAction(completionFor(v.name, nullptr)) +
         "\n"
         "            fi ;;\n";
  }
  s += "    esac\n"
       "}\n"
       "complete -F _keepalivectl keepalivectl\n";
  return s;
}

// ---- zsh ----

std::string zshAction(const Completion& c) {
  switch (c.kind) {
    case CompletionKind::kPolicyFiles:
      return "_files -g \"*.yaml(-.)\"";
    case CompletionKind::kDirectories:
      return "_directories";
    case CompletionKind::kUsers:
      return "_users";
    case CompletionKind::kHosts:
      return "_hosts";
    case CompletionKind::kWords:
      return "(" + joined(c.words) + ")";
    case CompletionKind::kNone:
      break;
  }
  return " ";
}

// One _arguments spec per option: '(-q --quiet)'{-q,--quiet}'[help]' or '--root=[help]:DIR:...'.
std::string zshOptionSpecs(const VerbSpec& v, const std::string& indent) {
  std::string out;
  for (const OptionSpec* o : visibleOptions(v)) {
    std::string tail = "[" + describe(o->help) + "]";
    if (o->value)
      tail += ":" + describe(o->value, true) + ":" + zshAction(completionFor(v.name, o->name));
    std::string repeat = (o->flags & kRepeatable) ? "*" : "";
    if (o->shortName) {
      const std::string s = std::string("-") + o->shortName, l = std::string("--") + o->name;
      out += indent + quoted(repeat + (repeat.empty() ? "(" + s + " " + l + ")" : "")) + "{" + s +
             (o->value ? "+" : "") + "," + l + (o->value ? "=" : "") + "}" + quoted(tail) + " \\\n";
    } else {
      out += indent + quoted(repeat + "--" + o->name + (o->value ? "=" : "") + tail) + " \\\n";
    }
  }
  return out;
}

std::string zshScript() {
  std::string s =
      "#compdef keepalivectl\n"
      "# zsh completion for keepalivectl. Generated from keepalivectl's table of verbs and "
      "options\n"
      "# (cli/verb_table.cpp) by keepalivectl-completion: do not edit.\n"
      "\n"
      "_keepalivectl() {\n"
      "    local curcontext=$curcontext state line ret=1\n"
      "    typeset -A opt_args\n"
      "    local -a verbs\n"
      "    verbs=(\n";
  for (const auto& v : verbTable())
    s += "        " + quoted(std::string(v.name) + ":" + describe(v.summary)) + "\n";
  s += "    )\n"
       "    _arguments -C \\\n"
       "        '(- *)'{-h,--help}'[print this help and exit]' \\\n";
  VerbSpec global = globalOptions();
  std::erase_if(global.options, [](const OptionSpec& o) { return o.name == std::string("help"); });
  s += zshOptionSpecs(global, "        ");
  s += "        '1:verb:->verb' \\\n"
       "        '*::argument:->argument' && ret=0\n"
       "    case $state in\n"
       "        verb) _describe -t verbs 'keepalivectl verb' verbs && ret=0 ;;\n"
       "        argument)\n"
       "            curcontext=${curcontext%:*:*}:keepalivectl-$words[1]:\n"
       "            case $words[1] in\n";
  for (const auto& v : verbTable()) {
    s += "                " + std::string(v.name) + ")\n";
    s += "                    _arguments \\\n";
    s += "                        '(- *)'{-h,--help}'[print the usage and options]' \\\n";
    s += zshOptionSpecs(v, "                        ");
    if (v.operands.name) {
      const std::string action = zshAction(completionFor(v.name, nullptr));
      const std::string name = describe(v.operands.name, true);
      if (v.operands.max == kMany)
        s += "                        " + quoted("*:" + name + ":" + action) + " \\\n";
      else
        s += "                        " +
             quoted((v.operands.required ? ":" : "::") + name + ":" + action) + " \\\n";
      if (v.operands.passThrough)
        s += "                        " +
             quoted("*::" + describe(v.operands.passThrough, true) + ": ") + " \\\n";
    }
    s += "                        && ret=0 ;;\n";
  }
  s += "            esac ;;\n"
       "    esac\n"
       "    return ret\n"
       "}\n"
       "\n"
       "if [[ $zsh_eval_context[-1] == loadautofunc ]]; then\n"
       "    _keepalivectl \"$@\"\n"
       "else\n"
       "    compdef _keepalivectl keepalivectl\n"
       "fi\n";
  return s;
}

}  // namespace

Completion completionFor(std::string_view verb, const char* option) {
  std::string_view value;
  if (option) {
    const std::string_view name = option;
    if (name == "user")
      return {CompletionKind::kUsers, {}};
    if (name == "property") {
      Completion c{CompletionKind::kWords, {}};
      for (const auto& p : daemon::statusProperties())
        c.words.emplace_back(p.name);
      return c;
    }
    for (const auto& v : verbTable())
      if (verb == v.name)
        if (const OptionSpec* o = findOption(v, name); o && o->value)
          value = o->value;
  } else {
    for (const auto& v : verbTable())
      if (verb == v.name && v.operands.name)
        value = v.operands.name;
    if (value == "NAME" && verb == "users")
      return {CompletionKind::kUsers, {}};
  }
  if (value == "FILE")
    return {CompletionKind::kPolicyFiles, {}};
  if (value == "DIR")
    return {CompletionKind::kDirectories, {}};
  if (value == "DESTINATION")
    return {CompletionKind::kHosts, {}};
  if (value == "VERB")
    return {CompletionKind::kWords, verbNames()};
  if (value == "CAUSE") {
    Completion c{CompletionKind::kWords, {}};
    for (auto cause : daemon::kAllDisconnectCauses)
      c.words.emplace_back(daemon::toString(cause));
    return c;
  }
  if (value.find('|') != std::string_view::npos)
    return {CompletionKind::kWords, splitBar(value)};
  return {};
}

std::string completionScript(std::string_view shell) {
  if (shell == "bash")
    return bashScript();
  if (shell == "zsh")
    return zshScript();
  return {};
}

}  // namespace keepalive::cli
