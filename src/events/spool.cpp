// On-disk bounded spool. One mutex: producers append from pipeline threads, the sink thread
// reads and commits. Data is written with write(2) at once (visible to readers, survives a
// process crash) and fdatasync'd by flush(), which the sink thread calls once per loop, so a
// burst of events costs one sync rather than one per event.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>

#include <spdlog/spdlog.h>

#include "edgevision/events.hpp"

namespace ev {
namespace fs = std::filesystem;

namespace {

constexpr size_t kHeader = 16;              // u32 len, u32 crc, u64 seq
constexpr uint32_t kMaxRecord = 16u << 20;  // sanity bound when scanning
constexpr size_t npos = static_cast<size_t>(-1);

uint32_t crc32(const char* data, size_t n) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) c = table[(c ^ static_cast<uint8_t>(data[i])) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

void put_u32(char* p, uint32_t v) {
  std::memcpy(p, &v, 4);
}
void put_u64(char* p, uint64_t v) {
  std::memcpy(p, &v, 8);
}
uint32_t get_u32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
uint64_t get_u64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

std::string errno_text() {
  return std::strerror(errno);
}

bool pread_all(int fd, char* buf, size_t n, uint64_t offset) {
  size_t done = 0;
  while (done < n) {
    const ssize_t r = ::pread(fd, buf + done, n - done, static_cast<off_t>(offset + done));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    done += static_cast<size_t>(r);
  }
  return true;
}

bool write_all(int fd, const char* buf, size_t n) {
  size_t done = 0;
  while (done < n) {
    const ssize_t r = ::write(fd, buf + done, n - done);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    done += static_cast<size_t>(r);
  }
  return true;
}

void fsync_dir(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

// Reads and checks one record header + payload at `offset`. False at a torn/corrupt record.
bool read_record(int fd, uint64_t offset, uint64_t file_size, uint64_t expect_seq,
                 std::string* payload, uint64_t* record_bytes) {
  if (offset + kHeader > file_size) return false;
  char h[kHeader];
  if (!pread_all(fd, h, kHeader, offset)) return false;
  const uint32_t len = get_u32(h);
  const uint32_t crc = get_u32(h + 4);
  const uint64_t seq = get_u64(h + 8);
  if (len > kMaxRecord || seq != expect_seq || offset + kHeader + len > file_size) return false;
  std::string data(len, '\0');
  if (len > 0 && !pread_all(fd, data.data(), len, offset + kHeader)) return false;
  if (crc32(data.data(), data.size()) != crc) return false;
  if (payload) *payload = std::move(data);
  *record_bytes = kHeader + len;
  return true;
}

}  // namespace

Spool::Spool(SpoolOptions options) : options_(std::move(options)) {
  if (options_.segment_bytes == 0) {
    options_.segment_bytes = std::max<uint64_t>(options_.max_bytes / 8, 4096);
  }
}

Spool::~Spool() {
  std::lock_guard lock(mutex_);
  if (active_fd_ >= 0) {
    if (data_dirty_) ::fdatasync(active_fd_);
    ::close(active_fd_);
  }
  if (commit_dirty_) write_commit();
}

Result<std::unique_ptr<Spool>> Spool::open(const SpoolOptions& options) {
  if (options.dir.empty()) return Result<std::unique_ptr<Spool>>::Error("spool: no directory");
  if (options.max_bytes < 8192) {
    return Result<std::unique_ptr<Spool>>::Error("spool: max_bytes must be at least 8 KiB");
  }
  std::unique_ptr<Spool> spool(new Spool(options));
  std::lock_guard lock(spool->mutex_);
  if (Status st = spool->load(); !st) return st;
  return spool;
}

fs::path Spool::segment_path(uint64_t first_seq) const {
  char name[32];
  std::snprintf(name, sizeof name, "%020llu.seg", static_cast<unsigned long long>(first_seq));
  return options_.dir / name;
}

size_t Spool::find_segment(uint64_t first_seq) const {
  for (size_t i = 0; i < segments_.size(); ++i) {
    if (segments_[i].first_seq == first_seq) return i;
  }
  return npos;
}

Status Spool::load() {
  std::error_code ec;
  fs::create_directories(options_.dir, ec);
  if (ec)
    return Status::Error("spool: cannot create " + options_.dir.string() + ": " + ec.message());

  std::vector<uint64_t> firsts;
  for (const auto& entry : fs::directory_iterator(options_.dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.size() == 24 && name.ends_with(".seg")) {
      try {
        firsts.push_back(std::stoull(name.substr(0, 20)));
      } catch (const std::exception&) {
      }
    }
  }
  if (ec) return Status::Error("spool: cannot list " + options_.dir.string() + ": " + ec.message());
  std::sort(firsts.begin(), firsts.end());

  // Scan every segment: count records, cut a torn tail (crash while appending). A segment
  // whose records do not continue the previous one's sequence ends the usable spool.
  uint64_t expect = firsts.empty() ? 0 : firsts.front();
  for (size_t i = 0; i < firsts.size(); ++i) {
    const fs::path path = segment_path(firsts[i]);
    if (firsts[i] != expect) {
      spdlog::warn("spool {}: segment {} does not follow on; removing it", options_.dir.string(),
                   path.filename().string());
      fs::remove(path, ec);
      continue;
    }
    const int fd = ::open(path.c_str(), O_RDWR);
    if (fd < 0) return Status::Error("spool: cannot open " + path.string() + ": " + errno_text());
    struct stat st {};
    ::fstat(fd, &st);
    const uint64_t size = static_cast<uint64_t>(st.st_size);
    Segment seg{firsts[i], 0, 0};
    uint64_t rec_bytes = 0;
    while (read_record(fd, seg.bytes, size, seg.first_seq + seg.records, nullptr, &rec_bytes)) {
      seg.bytes += rec_bytes;
      ++seg.records;
    }
    if (seg.bytes != size) {
      spdlog::warn("spool {}: cutting {} torn bytes off {}", options_.dir.string(),
                   size - seg.bytes, path.filename().string());
      if (::ftruncate(fd, static_cast<off_t>(seg.bytes)) != 0) {
        ::close(fd);
        return Status::Error("spool: cannot truncate " + path.string() + ": " + errno_text());
      }
      ::fsync(fd);
    }
    ::close(fd);
    expect = seg.first_seq + seg.records;
    segments_.push_back(seg);
    total_bytes_ += seg.bytes;
  }

  // The commit file says where delivery stopped.
  SpoolPosition commit;
  bool have_commit = false;
  {
    std::ifstream in(options_.dir / "commit");
    unsigned long long s = 0, g = 0, o = 0;
    if (in >> s >> g >> o) {
      commit = {s, g, o};
      have_commit = true;
    }
  }
  next_seq_ = segments_.empty() ? (have_commit ? commit.seq : 0) : expect;
  if (segments_.empty()) {
    const int fd = ::open(segment_path(next_seq_).c_str(), O_CREAT | O_WRONLY | O_APPEND, 0640);
    if (fd < 0) return Status::Error("spool: cannot create a segment in " + options_.dir.string());
    ::close(fd);
    fsync_dir(options_.dir);
    segments_.push_back({next_seq_, 0, 0});
  }
  const size_t idx = have_commit ? find_segment(commit.segment) : npos;
  if (idx == npos || commit.offset > segments_[idx].bytes || commit.seq > next_seq_) {
    // No commit yet, or it points into a segment that was dropped: start at the oldest record.
    commit_ = {segments_.front().first_seq, segments_.front().first_seq, 0};
    commit_dirty_ = have_commit;
  } else {
    commit_ = commit;
  }
  delete_consumed();

  active_fd_ = ::open(segment_path(segments_.back().first_seq).c_str(), O_WRONLY | O_APPEND);
  if (active_fd_ < 0)
    return Status::Error("spool: cannot open the active segment: " + errno_text());
  if (next_seq_ > commit_.seq) {
    spdlog::info("spool {}: {} undelivered events to replay", options_.dir.string(),
                 next_seq_ - commit_.seq);
  }
  return Status::Ok();
}

Status Spool::roll() {
  if (active_fd_ >= 0) {
    ::fdatasync(active_fd_);
    ::close(active_fd_);
    active_fd_ = -1;
  }
  data_dirty_ = false;
  const fs::path path = segment_path(next_seq_);
  active_fd_ = ::open(path.c_str(), O_CREAT | O_WRONLY | O_APPEND, 0640);
  if (active_fd_ < 0)
    return Status::Error("spool: cannot create " + path.string() + ": " + errno_text());
  fsync_dir(options_.dir);
  segments_.push_back({next_seq_, 0, 0});
  return Status::Ok();
}

void Spool::drop_oldest() {
  const Segment seg = segments_.front();
  const uint64_t end = seg.first_seq + seg.records;
  const uint64_t unsent = end > commit_.seq ? end - std::max(commit_.seq, seg.first_seq) : 0;
  stats_.dropped += unsent;
  std::error_code ec;
  fs::remove(segment_path(seg.first_seq), ec);
  total_bytes_ -= seg.bytes;
  segments_.erase(segments_.begin());
  if (commit_.seq < segments_.front().first_seq || commit_.segment == seg.first_seq) {
    commit_ = {segments_.front().first_seq, segments_.front().first_seq, 0};
    commit_dirty_ = true;
  }
  // A long outage drops a segment every few seconds: one warning per minute is enough.
  unlogged_drops_ += unsent;
  const auto now = std::chrono::steady_clock::now();
  if (unlogged_drops_ > 0 && now - last_drop_log_ >= std::chrono::minutes(1)) {
    spdlog::warn("spool {}: full ({} bytes), dropped {} undelivered events (oldest first)",
                 options_.dir.string(), options_.max_bytes, unlogged_drops_);
    unlogged_drops_ = 0;
    last_drop_log_ = now;
  }
}

void Spool::delete_consumed() {
  while (segments_.size() > 1 &&
         commit_.seq >= segments_.front().first_seq + segments_.front().records) {
    std::error_code ec;
    fs::remove(segment_path(segments_.front().first_seq), ec);
    total_bytes_ -= segments_.front().bytes;
    segments_.erase(segments_.begin());
  }
  if (find_segment(commit_.segment) == npos) {
    commit_ = {commit_.seq, segments_.front().first_seq, 0};
  }
}

Status Spool::append(const std::string& payload) {
  std::lock_guard lock(mutex_);
  const uint64_t rec = kHeader + payload.size();
  if (payload.size() > kMaxRecord || rec > options_.max_bytes / 2) {
    ++stats_.dropped;
    return Status::Error("spool: event of " + std::to_string(payload.size()) +
                         " bytes is too large");
  }
  if (active_fd_ < 0) return Status::Error("spool: not open");
  if (segments_.back().records > 0 && segments_.back().bytes + rec > options_.segment_bytes) {
    if (Status st = roll(); !st) {
      note_write_error(st.message());
      return st;
    }
  }
  while (total_bytes_ + rec > options_.max_bytes && segments_.size() > 1) drop_oldest();

  std::string buf(kHeader + payload.size(), '\0');
  put_u32(buf.data(), static_cast<uint32_t>(payload.size()));
  put_u32(buf.data() + 4, crc32(payload.data(), payload.size()));
  put_u64(buf.data() + 8, next_seq_);
  std::memcpy(buf.data() + kHeader, payload.data(), payload.size());
  Segment& seg = segments_.back();
  if (!write_all(active_fd_, buf.data(), buf.size())) {
    const std::string why = errno_text();
    // Leave no partial record behind: the next append must start on a record boundary.
    if (::ftruncate(active_fd_, static_cast<off_t>(seg.bytes)) != 0) {
      spdlog::error("spool {}: cannot cut a partial record: {}", options_.dir.string(),
                    errno_text());
    }
    note_write_error("write failed: " + why);
    return Status::Error("spool: write failed: " + why);
  }
  if (stats_.failing) {
    spdlog::info("spool {}: writable again after {} failed writes", options_.dir.string(),
                 stats_.write_errors);
    stats_.failing = false;
  }
  seg.bytes += rec;
  ++seg.records;
  total_bytes_ += rec;
  ++next_seq_;
  ++stats_.appended;
  data_dirty_ = true;
  return Status::Ok();
}

void Spool::note_write_error(const std::string& what) {
  ++stats_.write_errors;
  stats_.failing = true;
  stats_.last_io_error = what;
  // A full disk fails every event: the first failure and then one line a minute.
  ++unlogged_write_errors_;
  const auto now = std::chrono::steady_clock::now();
  if (stats_.write_errors == 1 || now - last_write_error_log_ >= std::chrono::minutes(1)) {
    spdlog::error("spool {}: cannot store events ({} failed writes): {}", options_.dir.string(),
                  unlogged_write_errors_, what);
    unlogged_write_errors_ = 0;
    last_write_error_log_ = now;
  }
}

Status Spool::flush() {
  std::lock_guard lock(mutex_);
  if (!data_dirty_ || active_fd_ < 0) return Status::Ok();
  data_dirty_ = false;
  if (::fdatasync(active_fd_) != 0)
    return Status::Error("spool: fdatasync failed: " + errno_text());
  return Status::Ok();
}

Result<std::vector<SpoolRecord>> Spool::read(const SpoolPosition& from, size_t max_records) {
  std::lock_guard lock(mutex_);
  std::vector<SpoolRecord> out;
  SpoolPosition pos = from;
  size_t idx = find_segment(pos.segment);
  if (idx == npos || pos.seq < segments_.front().first_seq) {
    idx = 0;
    pos = {segments_.front().first_seq, segments_.front().first_seq, 0};
  }
  int fd = -1;
  size_t fd_idx = npos;
  while (out.size() < max_records && idx < segments_.size()) {
    const Segment& seg = segments_[idx];
    if (pos.offset >= seg.bytes) {
      if (idx + 1 >= segments_.size()) break;
      ++idx;
      pos = {segments_[idx].first_seq, segments_[idx].first_seq, 0};
      continue;
    }
    if (fd_idx != idx) {
      if (fd >= 0) ::close(fd);
      fd = ::open(segment_path(seg.first_seq).c_str(), O_RDONLY);
      fd_idx = idx;
      if (fd < 0)
        return Result<std::vector<SpoolRecord>>::Error("spool: cannot read: " + errno_text());
    }
    SpoolRecord r;
    uint64_t bytes = 0;
    if (!read_record(fd, pos.offset, seg.bytes, pos.seq, &r.payload, &bytes)) {
      ::close(fd);
      return Result<std::vector<SpoolRecord>>::Error("spool: corrupt record " +
                                                     std::to_string(pos.seq) + " in " +
                                                     segment_path(seg.first_seq).string());
    }
    r.seq = pos.seq;
    pos = {pos.seq + 1, seg.first_seq, pos.offset + bytes};
    r.next = pos;
    out.push_back(std::move(r));
  }
  if (fd >= 0) ::close(fd);
  return out;
}

Status Spool::write_commit() {
  const fs::path tmp = options_.dir / "commit.tmp";
  const int fd = ::open(tmp.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0640);
  if (fd < 0) {
    const std::string why = errno_text();
    ++stats_.commit_errors;
    stats_.last_io_error = "commit file: " + why;
    if (stats_.commit_errors == 1 || stats_.commit_errors % 60 == 0)
      spdlog::error("spool {}: cannot write the commit file ({} failures, retrying): {}",
                    options_.dir.string(), stats_.commit_errors, why);
    return Status::Error("spool: cannot write the commit file: " + why);
  }
  const std::string text = std::to_string(commit_.seq) + " " + std::to_string(commit_.segment) +
                           " " + std::to_string(commit_.offset) + "\n";
  const bool ok = write_all(fd, text.data(), text.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), (options_.dir / "commit").c_str()) != 0) {
    // commit_dirty_ stays set: the next durable commit (about once a second) tries again, so
    // a restart after the disk recovers does not resend what was delivered.
    const std::string why = errno_text();
    ++stats_.commit_errors;
    stats_.last_io_error = "commit file: " + why;
    if (stats_.commit_errors == 1 || stats_.commit_errors % 60 == 0)
      spdlog::error("spool {}: cannot write the commit file ({} failures, retrying): {}",
                    options_.dir.string(), stats_.commit_errors, why);
    return Status::Error("spool: cannot write the commit file: " + why);
  }
  if (stats_.commit_errors > 0 && !stats_.last_io_error.empty() &&
      stats_.last_io_error.rfind("commit file", 0) == 0) {
    spdlog::info("spool {}: commit file written again", options_.dir.string());
    stats_.last_io_error.clear();
  }
  fsync_dir(options_.dir);
  commit_dirty_ = false;
  return Status::Ok();
}

Status Spool::commit(const SpoolPosition& next, bool durable) {
  std::lock_guard lock(mutex_);
  // Ignore positions that were overtaken (records dropped meanwhile) or are unknown.
  if (next.seq > commit_.seq && next.seq <= next_seq_ && find_segment(next.segment) != npos) {
    stats_.committed += next.seq - commit_.seq;
    commit_ = next;
    commit_dirty_ = true;
    delete_consumed();
  }
  if (durable && commit_dirty_) return write_commit();
  return Status::Ok();
}

SpoolPosition Spool::committed() const {
  std::lock_guard lock(mutex_);
  return commit_;
}

SpoolStats Spool::stats() const {
  std::lock_guard lock(mutex_);
  SpoolStats s = stats_;
  s.pending = next_seq_ - commit_.seq;
  s.bytes = total_bytes_;
  return s;
}

}  // namespace ev
