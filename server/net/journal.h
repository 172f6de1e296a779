// cellmeetd's journal (DESIGN.md, "Acknowledged means durable"): what the
// engine acknowledges or announces is on disk before the answer leaves.
//
// Layout, in MINUTES_DIR/journal:
//   CURRENT                 the names of the journal files of the current
//                           run, one per line (replaced atomically)
//   s<shard>-<run>.log      one shard's append-only journal: records framed
//                           as [u32 length][u32 CRC-32 of the payload][payload],
//                           big-endian, payload = a serialized v1::JournalRecord
//   box-c<C>-m<M>-v<V>.bin  a secret vote's v1::BallotBox (the roll of who
//                           voted, by member id, and the tally), replaced
//                           whole (tmp, fsync, rename) whenever it changes
//
// Group commit: a shard appends the records of one turn of its event loop to
// a JournalWriter, then commit() writes them and the changed boxes with one
// fsync of the log (plus one per box and one of the folder when boxes
// changed), and only then are the turn's answers sent.
//
// Start: read_journal() reads the files CURRENT names (or every log when
// there is none yet), stopping a file at its first torn or corrupt record
// (the tail of a crashed write), and every box. The server replays them into
// its engines, writes a compacted journal for the new run (the records of
// meetings still open, and each cell's next meeting id), points CURRENT at
// it, and only then removes the old files: a crash at any point leaves
// either the old or the new journal whole.
//
// Rotation: when a shard's log grows past its bound (ShardOptions), the
// shard writes a new log holding only the records of meetings still open,
// points CURRENT at it (JournalCatalog) and removes the old one, so the
// journal stays proportional to the open meetings however long a run lasts.
//
// Secret ballots: nothing here orders or positions a choice by voter. The
// log never holds a secret ballot; a box holds the roll sorted by member id
// and the tally, and only its latest state exists on disk. A box is also
// sealed (AES-256-GCM under a key derived from the deployment key, a fresh
// nonce each write, the file name as associated data): a partial tally on
// disk (one voter, one yes) would otherwise say how that voter chose, and
// two copies of the disk taken a ballot apart would link that ballot. Only
// what holds the deployment key, as the server does, can read a box.
//
// Thread-safety: a JournalWriter belongs to one shard's thread; the free
// functions are thread-safe.
#ifndef CELLSIM_SERVER_NET_JOURNAL_H_
#define CELLSIM_SERVER_NET_JOURNAL_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "cellsim/v1/wire.pb.h"

namespace cellsim::net {

namespace v1 = ::cellsim::v1;

// Largest journal record accepted on reading, bytes (a record holds one
// request, itself bounded by the frame maximum).
inline constexpr uint32_t kMaxJournalRecordBytes = 1u << 20;
// Most journal files and boxes read at start.
inline constexpr size_t kMaxJournalFiles = 100'000;
// Bytes of header before each record's payload.
inline constexpr size_t kJournalRecordHeaderBytes = 8;

// (cell id, meeting id, vote id) of a ballot box.
using BoxKey = std::tuple<uint64_t, uint64_t, uint64_t>;

std::string journal_dir(const std::string& minutes_dir);
std::string box_file_name(uint64_t cell_id, uint64_t meeting_id, uint64_t vote_id);

// Appends `payload` framed as one record to *out.
void append_journal_record(std::string_view payload, std::string* out);

struct JournalContents {
  std::vector<v1::JournalRecord> records;  // every file's records, file by file
  std::map<BoxKey, v1::BallotBox> boxes;
  std::vector<std::string> files;          // the log files read (names)
  bool clean_stop = false;                 // every file ends with a `stopped` record
  uint64_t torn_records = 0;               // files cut short at a bad record
  std::vector<std::string> box_files;      // every box file found (names)
  uint64_t bad_boxes = 0;                  // box files that did not open
};

// Reads the journal folder (which may not exist yet: then empty contents),
// opening the boxes with the deployment key (a box that does not open is
// left out and counted in bad_boxes). False with *why when it cannot be read.
bool read_journal(const std::string& minutes_dir, std::string_view deployment_key,
                  JournalContents* out, std::string* why);

// Splits a file's bytes into records. Stops at the first record that is cut
// short, over kMaxJournalRecordBytes, fails its CRC or does not parse, and
// says so in *torn. Pure; for tests and fuzzing.
void parse_journal_bytes(std::string_view bytes, std::vector<v1::JournalRecord>* records,
                         bool* torn);

// Default bound of one shard's log before it is rotated, bytes.
inline constexpr uint64_t kDefaultJournalRotateBytes = 64ull << 20;

// The current journal files, one per shard, and CURRENT on disk.
// Thread-safe: shards rotate their files from their own threads.
class JournalCatalog {
 public:
  JournalCatalog(std::string minutes_dir, std::vector<std::string> files)
      : minutes_dir_(std::move(minutes_dir)), files_(std::move(files)) {}
  // Makes `file_name` shard `shard`'s log in CURRENT (atomically), then
  // removes the file it replaces. REQUIRES: shard < files.size().
  bool replace(size_t shard, const std::string& file_name, std::string* why);

 private:
  std::mutex mu_;
  const std::string minutes_dir_;
  std::vector<std::string> files_;
};

// Makes `files` the current journal (CURRENT, atomically) and removes every
// other log and every box not in `keep_boxes`.
bool install_journal(const std::string& minutes_dir, const std::vector<std::string>& files,
                     const std::vector<std::string>& keep_boxes, std::string* why);

// A box sealed for its file `name` / opened (false if it does not
// authenticate with this key and name, or does not parse).
std::string seal_box(std::string_view deployment_key, const std::string& name,
                     const v1::BallotBox& box);
bool open_box(std::string_view deployment_key, const std::string& name, std::string_view sealed,
              v1::BallotBox* box);

// Writes one box file, sealed, atomically (tmp, fsync, rename; the folder is
// not fsynced: the caller does that once for all boxes of a commit).
bool write_box_file(const std::string& minutes_dir, std::string_view deployment_key,
                    const v1::BallotBox& box, std::string* why);
void remove_box_files(const std::string& minutes_dir, uint64_t cell_id, uint64_t meeting_id);
// fsync of a folder (best effort: false if it could not be done).
bool fsync_folder(const std::string& dir);

// One shard's journal file.
class JournalWriter {
 public:
  JournalWriter() = default;
  ~JournalWriter();
  JournalWriter(const JournalWriter&) = delete;
  JournalWriter& operator=(const JournalWriter&) = delete;

  // Creates (truncating) minutes_dir/journal/`file_name` and writes
  // `initial` (already framed records) durably. Boxes are sealed with
  // `deployment_key`.
  bool open(const std::string& minutes_dir, std::string_view deployment_key,
            const std::string& file_name, std::string_view initial, std::string* why);
  bool is_open() const { return fd_ >= 0; }
  const std::string& file_name() const { return file_name_; }

  // Stages a record (a serialized v1::JournalRecord) / a box for commit().
  void append(std::string_view record);
  void stage_box(const v1::BallotBox& box);
  bool pending() const { return !buffer_.empty() || !boxes_.empty(); }

  // Writes what is staged and fsyncs it. False with *why if it failed (the
  // staged data is dropped: the caller decides what that means).
  bool commit(std::string* why);

  // Figures for metrics and tests.
  uint64_t commits() const { return commits_; }
  uint64_t records_written() const { return records_; }
  uint64_t bytes_written() const { return bytes_; }
  // Bytes in the current file (what rotation bounds).
  uint64_t file_bytes() const { return file_bytes_; }

 private:
  std::string minutes_dir_;
  std::string key_;
  std::string file_name_;
  int fd_ = -1;
  std::string buffer_;  // framed records staged
  uint64_t staged_records_ = 0;
  std::map<BoxKey, v1::BallotBox> boxes_;  // latest state of each box staged
  uint64_t commits_ = 0;
  uint64_t records_ = 0;
  uint64_t bytes_ = 0;
  uint64_t file_bytes_ = 0;
};

// The records of one log file, for rotation: false with *why if unreadable.
bool read_journal_file(const std::string& minutes_dir, const std::string& file_name,
                       std::vector<v1::JournalRecord>* records, std::string* why);

}  // namespace cellsim::net

#endif  // CELLSIM_SERVER_NET_JOURNAL_H_
