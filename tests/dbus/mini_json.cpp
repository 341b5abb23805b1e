#include "mini_json.h"

namespace keepalive::test {
namespace {

class Reader {
 public:
  explicit Reader(const std::string& t) : t_(t) {}

  Json document() {
    Json v = value(0);
    ws();
    if (i_ != t_.size())
      fail("text after the value");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& why) const {
    throw std::invalid_argument("JSON at offset " + std::to_string(i_) + ": " + why);
  }
  void ws() {
    while (i_ < t_.size() && (t_[i_] == ' ' || t_[i_] == '\n' || t_[i_] == '\t' || t_[i_] == '\r'))
      ++i_;
  }
  bool eat(char c) {
    ws();
    if (i_ < t_.size() && t_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  void expect(char c) {
    if (!eat(c))
      fail(std::string("expected '") + c + "'");
  }
  bool word(const char* w) {
    const std::string s(w);
    if (t_.compare(i_, s.size(), s) == 0) {
      i_ += s.size();
      return true;
    }
    return false;
  }

  Json value(int depth) {
    if (depth > 64)
      fail("nested too deep");
    ws();
    if (i_ >= t_.size())
      fail("unexpected end");
    Json v;
    const char c = t_[i_];
    if (c == '{') {
      ++i_;
      v.type = Json::Type::kObject;
      if (eat('}'))
        return v;
      do {
        ws();
        if (i_ >= t_.size() || t_[i_] != '"')
          fail("expected a key");
        std::string k = string();
        expect(':');
        if (!v.object.emplace(k, value(depth + 1)).second)
          fail("duplicate key '" + k + "'");
      } while (eat(','));
      expect('}');
    } else if (c == '[') {
      ++i_;
      v.type = Json::Type::kArray;
      if (eat(']'))
        return v;
      do
        v.array.push_back(value(depth + 1));
      while (eat(','));
      expect(']');
    } else if (c == '"') {
      v.type = Json::Type::kString;
      v.string = string();
    } else if (word("true") || word("false")) {
      v.type = Json::Type::kBool;
      v.boolean = t_[i_ - 1] == 'e' && t_[i_ - 2] == 'u';
    } else if (word("null")) {
      v.type = Json::Type::kNull;
    } else {
      v.type = Json::Type::kNumber;
      v.number = number();
    }
    return v;
  }

  std::string number() {
    const std::size_t b = i_;
    auto digits = [&] {
      const std::size_t s = i_;
      while (i_ < t_.size() && t_[i_] >= '0' && t_[i_] <= '9')
        ++i_;
      return i_ - s;
    };
    if (i_ < t_.size() && t_[i_] == '-')
      ++i_;
    const std::size_t first = i_;
    if (digits() == 0)
      fail("not a value");
    if (t_[first] == '0' && i_ - first > 1)
      fail("leading zero");
    if (i_ < t_.size() && t_[i_] == '.') {
      ++i_;
      if (digits() == 0)
        fail("no digits after '.'");
    }
    if (i_ < t_.size() && (t_[i_] == 'e' || t_[i_] == 'E')) {
      ++i_;
      if (i_ < t_.size() && (t_[i_] == '+' || t_[i_] == '-'))
        ++i_;
      if (digits() == 0)
        fail("no digits in the exponent");
    }
    return t_.substr(b, i_ - b);
  }

  void utf8(std::uint32_t cp, std::string& out) {
    if (cp < 0x80) {
      out += char(cp);
    } else if (cp < 0x800) {
      out += char(0xC0 | (cp >> 6));
      out += char(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += char(0xE0 | (cp >> 12));
      out += char(0x80 | ((cp >> 6) & 0x3F));
      out += char(0x80 | (cp & 0x3F));
    } else {
      out += char(0xF0 | (cp >> 18));
      out += char(0x80 | ((cp >> 12) & 0x3F));
      out += char(0x80 | ((cp >> 6) & 0x3F));
      out += char(0x80 | (cp & 0x3F));
    }
  }

  std::uint32_t hex4() {
    if (i_ + 4 > t_.size())
      fail("short \\u escape");
    std::uint32_t v = 0;
    for (int k = 0; k < 4; ++k) {
      const char h = t_[i_++];
      v <<= 4;
      if (h >= '0' && h <= '9')
        v |= std::uint32_t(h - '0');
      else if (h >= 'a' && h <= 'f')
        v |= std::uint32_t(h - 'a' + 10);
      else if (h >= 'A' && h <= 'F')
        v |= std::uint32_t(h - 'A' + 10);
      else
        fail("bad \\u escape");
    }
    return v;
  }

  std::string string() {
    ++i_;  // the opening quote
    std::string out;
    for (;;) {
      if (i_ >= t_.size())
        fail("unterminated string");
      const auto c = static_cast<unsigned char>(t_[i_++]);
      if (c == '"')
        return out;
      if (c < 0x20)
        fail("raw control character in a string");
      if (c != '\\') {
        out += char(c);
        continue;
      }
      if (i_ >= t_.size())
        fail("unterminated escape");
      switch (t_[i_++]) {
        case '"':
          out += '"';
          break;
        case '\\':
          out += '\\';
          break;
        case '/':
          out += '/';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          std::uint32_t cp = hex4();
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (!word("\\u"))
              fail("lone high surrogate");
            const std::uint32_t lo = hex4();
            if (lo < 0xDC00 || lo > 0xDFFF)
              fail("bad low surrogate");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            fail("lone low surrogate");
          }
          utf8(cp, out);
          break;
        }
        default:
          fail("unknown escape");
      }
    }
  }

  const std::string& t_;
  std::size_t i_ = 0;
};

}  // namespace

Json parseJson(const std::string& text) {
  return Reader(text).document();
}

}  // namespace keepalive::test
