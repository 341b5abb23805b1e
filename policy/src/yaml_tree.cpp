// SPDX-License-Identifier: GPL-2.0-or-later
#include "keepalive/policy/yaml_tree.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/mark.h>
#include <yaml-cpp/parser.h>

#include <sstream>
#include <unordered_map>

#include "text.h"

namespace keepalive::policy {

const char* YamlNode::kindName() const {
  switch (kind) {
    case Kind::kNull:
      return "nothing (null)";
    case Kind::kScalar:
      return quoted ? "a quoted string" : "a scalar";
    case Kind::kMap:
      return "a mapping";
    case Kind::kSequence:
      return "a list";
  }
  return "?";
}

namespace {

// Thrown to stop the parse when a budget is exhausted; the diagnostic is already recorded.
struct Abort {};

class TreeBuilder : public YAML::EventHandler {
 public:
  TreeBuilder(const std::string& file, Diagnostics& diags, const YamlLimits& limits)
      : file_(file), diags_(diags), limits_(limits) {}

  std::unique_ptr<YamlNode> take() { return std::move(root_); }

  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    YamlNode n;
    n.kind = YamlNode::Kind::kNull;
    n.pos = pos(mark);
    checkAnchor(anchor, n.pos);
    attach(std::move(n));
  }

  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override {
    YamlNode n;
    n.pos = pos(mark);
    diags_.error(n.pos, "aliases (*name) are not allowed in a policy; write the value out in full");
    attach(std::move(n));
  }

  void OnAnchor(const YAML::Mark&, const std::string&) override {}

  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    YamlNode n;
    n.kind = YamlNode::Kind::kScalar;
    n.pos = pos(mark);
    n.scalar = value;
    n.quoted = tag == "!";
    checkTag(tag, n.pos);
    checkAnchor(anchor, n.pos);
    attach(std::move(n));
  }

  void OnSequenceStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    open(YamlNode::Kind::kSequence, mark, tag, anchor);
  }
  void OnSequenceEnd() override { close(); }

  void OnMapStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    open(YamlNode::Kind::kMap, mark, tag, anchor);
  }
  void OnMapEnd() override { close(); }

 private:
  struct Frame {
    YamlNode node;
    bool haveKey = false;
    YamlNode key;
    std::unordered_map<std::string, SourcePos> keys;  // for duplicates, in linear time
  };

  SourcePos pos(const YAML::Mark& m) const {
    // yaml-cpp counts from 0; editors and compilers count from 1.
    return {file_, m.line + 1, m.column + 1};
  }

  void checkTag(const std::string& tag, const SourcePos& p) {
    // "?" is a plain node, "!" a quoted scalar; anything else was written as an explicit tag.
    if (tag != "?" && tag != "!" && tag != "")
      diags_.error(p, "tags (" + tag + ") are not allowed in a policy; remove the tag");
  }

  void checkAnchor(YAML::anchor_t anchor, const SourcePos& p) {
    if (anchor != YAML::NullAnchor)
      diags_.error(p, "anchors (&name) are not allowed in a policy; write each value out in full");
  }

  void count(const SourcePos& p) {
    if (++nodes_ > limits_.max_nodes) {
      diags_.error(p, "the policy has more than " + std::to_string(limits_.max_nodes) +
                          " YAML nodes; a policy needs a few dozen");
      throw Abort{};
    }
  }

  void open(YamlNode::Kind kind, const YAML::Mark& mark, const std::string& tag,
            YAML::anchor_t anchor) {
    Frame f;
    f.node.kind = kind;
    f.node.pos = pos(mark);
    count(f.node.pos);
    checkTag(tag, f.node.pos);
    checkAnchor(anchor, f.node.pos);
    if (static_cast<int>(stack_.size()) >= limits_.max_depth) {
      diags_.error(f.node.pos, "the policy nests deeper than " + std::to_string(limits_.max_depth) +
                                   " levels; the schema has five");
      throw Abort{};
    }
    stack_.push_back(std::move(f));
  }

  void close() {
    YamlNode done = std::move(stack_.back().node);
    stack_.pop_back();
    attachBuilt(std::move(done));
  }

  void attach(YamlNode n) {
    count(n.pos);
    attachBuilt(std::move(n));
  }

  void attachBuilt(YamlNode n) {
    if (stack_.empty()) {
      root_ = std::make_unique<YamlNode>(std::move(n));
      return;
    }
    Frame& top = stack_.back();
    if (top.node.kind == YamlNode::Kind::kSequence) {
      top.node.sequence.push_back(std::move(n));
      return;
    }
    if (!top.haveKey) {
      if (n.kind != YamlNode::Kind::kScalar) {
        diags_.error(n.pos, std::string("a key must be a plain word, not ") + n.kindName() +
                                "; write key: value");
        n.kind = YamlNode::Kind::kScalar;  // keep the structure so later errors still make sense
        n.scalar = "?";
      }
      if (auto [it, fresh] = top.keys.emplace(n.scalar, n.pos); !fresh) {
        diags_.error(n.pos, "duplicate key " + detail::quote(n.scalar) + " (first at line " +
                                std::to_string(it->second.line) + ", column " +
                                std::to_string(it->second.column) +
                                "); a key may appear once in a mapping: remove one of them");
      }
      top.key = std::move(n);
      top.haveKey = true;
      return;
    }
    top.node.map.emplace_back(std::move(top.key), std::move(n));
    top.haveKey = false;
  }

  const std::string& file_;
  Diagnostics& diags_;
  const YamlLimits& limits_;
  std::vector<Frame> stack_;
  std::unique_ptr<YamlNode> root_;
  std::size_t nodes_ = 0;
};

}  // namespace

std::unique_ptr<YamlNode> parseYaml(std::string_view text, const std::string& file,
                                    Diagnostics& diags, const YamlLimits& limits) {
  SourcePos whole{file, 0, 0};
  if (text.size() > limits.max_bytes) {
    diags.error(whole, "the file is " + std::to_string(text.size()) + " bytes, over the limit of " +
                           std::to_string(limits.max_bytes) +
                           "; a policy needs a few hundred bytes: is this the right file?");
    return nullptr;
  }
  if (auto nul = text.find('\0'); nul != std::string_view::npos) {
    diags.error(whole, "the file holds a NUL byte at offset " + std::to_string(nul) +
                           "; a policy is UTF-8 text");
    return nullptr;
  }
  int errorsBefore = diags.errorCount();
  std::istringstream in{std::string(text)};
  TreeBuilder builder(file, diags, limits);
  try {
    YAML::Parser parser(in);
    if (!parser.HandleNextDocument(builder)) {
      diags.error({file, 1, 1}, "the file is empty; a policy starts with 'version: 1'");
      return nullptr;
    }
    auto root = builder.take();
    TreeBuilder rest(file, diags, limits);
    if (parser.HandleNextDocument(rest)) {
      auto second = rest.take();
      SourcePos p = second ? second->pos : whole;
      diags.error(p,
                  "a second YAML document ('---'); a policy file holds one document: put "
                  "further settings in their own file under policy.d/");
    }
    if (!root) {
      diags.error({file, 1, 1}, "the file holds no document; a policy starts with 'version: 1'");
      return nullptr;
    }
    if (diags.errorCount() > errorsBefore)
      return nullptr;
    return root;
  } catch (const Abort&) {
    return nullptr;
  } catch (const YAML::Exception& e) {
    SourcePos p{file, e.mark.line + 1, e.mark.column + 1};
    if (e.mark.is_null())
      p = whole;
    diags.error(p, "YAML syntax: " + e.msg + "; check indentation, quotes and brackets here");
    return nullptr;
  } catch (const std::exception& e) {
    diags.error(whole, std::string("cannot parse: ") + e.what());
    return nullptr;
  }
}

}  // namespace keepalive::policy
