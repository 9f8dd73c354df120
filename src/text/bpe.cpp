#include "text/bpe.h"

#include <cstdio>
#include <queue>

namespace glimpse::text {

Result<BpeModel> BpeModel::build(BpeConfig config, const std::string& source) {
  BpeModel model;
  model.vocab_ = std::move(config.vocab);
  model.continuing_subword_prefix_ = std::move(config.continuing_subword_prefix);
  model.end_of_word_suffix_ = std::move(config.end_of_word_suffix);
  model.fuse_unk_ = config.fuse_unk;
  model.byte_fallback_ = config.byte_fallback;
  model.ignore_merges_ = config.ignore_merges;

  if (config.unk_token) {
    const auto it = model.vocab_.find(*config.unk_token);
    if (it == model.vocab_.end()) {
      return make_error(ErrorCode::kInvalidFormat, source + ": model.unk_token '" + *config.unk_token +
                                                       "' is not in model.vocab; fix the file or set unk_token to null");
    }
    model.unk_id_ = it->second;
  }

  for (int byte = 0; byte < 256; ++byte) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", byte);
    const auto it = model.vocab_.find(std::string_view(name));
    model.byte_ids_[byte] = it == model.vocab_.end() ? -1 : it->second;
  }

  const std::size_t prefix_length = model.continuing_subword_prefix_.size();
  model.merges_.reserve(config.merges.size());
  for (std::size_t rank = 0; rank < config.merges.size(); ++rank) {
    const auto& [left, right] = config.merges[rank];
    const auto left_it = model.vocab_.find(left);
    const auto right_it = model.vocab_.find(right);
    const char* missing = left_it == model.vocab_.end() ? left.c_str() : right_it == model.vocab_.end() ? right.c_str() : nullptr;
    if (missing != nullptr) {
      return make_error(ErrorCode::kInvalidFormat, source + ": model.merges[" + std::to_string(rank) + "] uses '" +
                                                       missing + "', which is not in model.vocab");
    }
    // The merged piece drops the right part's continuing-subword prefix, as Hugging Face does.
    const std::string merged =
        left + (right.size() >= prefix_length && right.compare(0, prefix_length, model.continuing_subword_prefix_) == 0
                    ? right.substr(prefix_length)
                    : right);
    const auto merged_it = model.vocab_.find(merged);
    if (merged_it == model.vocab_.end()) {
      return make_error(ErrorCode::kInvalidFormat, source + ": model.merges[" + std::to_string(rank) + "] makes '" +
                                                       merged + "', which is not in model.vocab");
    }
    // A repeated pair takes its last rank, as in Hugging Face's hash map.
    model.merges_[pair_key(left_it->second, right_it->second)] =
        MergeTarget{static_cast<std::uint32_t>(rank), merged_it->second};
  }
  return model;
}

std::optional<std::int32_t> BpeModel::find(std::string_view piece) const {
  const auto it = vocab_.find(piece);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

void BpeModel::tokenize(std::string_view word, std::vector<std::int32_t>& ids) const {
  if (word.empty()) return;
  if (ignore_merges_) {
    if (const auto id = find(word)) {
      ids.push_back(*id);
      return;
    }
  }

  // One symbol per character (or per byte token), linked so that merges can remove symbols.
  struct Symbol {
    std::int32_t id;
    std::int32_t prev;
    std::int32_t next;
    bool removed;
  };
  std::vector<Symbol> symbols;
  symbols.reserve(word.size());
  const auto add = [&](std::int32_t id) {
    const auto index = static_cast<std::int32_t>(symbols.size());
    symbols.push_back({id, index - 1, index + 1, false});
  };

  // A pending unknown token, added when the next known character arrives or at the end.
  bool unk_pending = false;
  std::string piece;
  std::size_t offset = 0;
  while (offset < word.size()) {
    std::size_t length = 1;
    while (offset + length < word.size() && (static_cast<unsigned char>(word[offset + length]) & 0xC0) == 0x80) ++length;
    const std::string_view character = word.substr(offset, length);
    const bool is_first = offset == 0;
    offset += length;
    const bool is_last = offset == word.size();

    piece.clear();
    if (!is_first) piece += continuing_subword_prefix_;
    piece.append(character);
    if (is_last) piece += end_of_word_suffix_;

    if (const auto id = find(piece)) {
      if (unk_pending) {
        add(*unk_id_);
        unk_pending = false;
      }
      add(*id);
      continue;
    }
    if (byte_fallback_) {
      bool all_bytes = true;
      for (const char c : piece) all_bytes = all_bytes && byte_ids_[static_cast<unsigned char>(c)] >= 0;
      if (all_bytes) {
        // Like Hugging Face, a pending unknown token is not flushed before byte tokens.
        for (const char c : piece) add(byte_ids_[static_cast<unsigned char>(c)]);
        continue;
      }
    }
    if (unk_id_) {
      if (unk_pending && !fuse_unk_) add(*unk_id_);
      unk_pending = true;
    }
    // NOTE: without an unk_token and without byte fallback the character is dropped, which is
    // what Hugging Face's BPE does too.
  }
  if (unk_pending) add(*unk_id_);
  if (symbols.empty()) return;
  symbols.back().next = -1;

  // Merge the lowest-ranked pair first, leftmost on ties; stale queue entries are skipped.
  struct Candidate {
    std::uint32_t rank;
    std::int32_t position;
    std::int32_t new_id;
    bool operator<(const Candidate& other) const {
      return rank != other.rank ? rank > other.rank : position > other.position;
    }
  };
  std::priority_queue<Candidate> queue;
  const auto push_pair = [&](std::int32_t position) {
    const std::int32_t next = symbols[position].next;
    if (next < 0) return;
    const auto it = merges_.find(pair_key(symbols[position].id, symbols[next].id));
    if (it != merges_.end()) queue.push({it->second.rank, position, it->second.id});
  };
  for (std::int32_t i = 0; i + 1 < static_cast<std::int32_t>(symbols.size()); ++i) push_pair(i);

  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    Symbol& left = symbols[top.position];
    if (left.removed || left.next < 0) continue;
    const std::int32_t right_index = left.next;
    const Symbol right = symbols[right_index];
    const auto it = merges_.find(pair_key(left.id, right.id));
    if (it == merges_.end() || it->second.id != top.new_id) continue;

    left.id = top.new_id;
    left.next = right.next;
    symbols[right_index].removed = true;
    if (right.next >= 0) symbols[right.next].prev = top.position;
    if (left.prev >= 0) push_pair(left.prev);
    push_pair(top.position);
  }

  for (const Symbol& symbol : symbols) {
    if (!symbol.removed) ids.push_back(symbol.id);
  }
}

}  // namespace glimpse::text
