// Every fixed string of the feasibility report, in each language it is
// written in: one table per language (strings.cc), indexed by Msg. A string
// may hold placeholders {0}..{9}, filled by format().
//
// Invariant (checked at compile time): each table has one entry per Msg, in
// Msg order. Data from the results (cell type and profile names, file names,
// the calibration label) is never in a table: it is shown as is.
//
// Thread-safety: immutable tables; functions are reentrant.
#ifndef CELLSIM_REPORT_STRINGS_H_
#define CELLSIM_REPORT_STRINGS_H_

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

namespace cellsim::report {

enum class Lang { kVi, kEn };

enum class Msg : size_t {
  kHtmlLang, kTitle, kIntro, kGenerated,
  kSecVerdicts, kSecRules, kSecSlos, kSecTimeToQuorum, kSecLatency, kSecServers, kSecSizing,
  kSecCapacity, kSecAttendance, kSecBasis, kSecDataGaps,
  kVerdictFeasible, kVerdictUndecided, kVerdictNotFeasible, kVerdictSummary,
  kOutcomePass, kOutcomeUndecided, kOutcomeFail,
  kColCellType, kColVerdict, kColCells, kColMembers, kColMeetings, kColQuorum, kColValidVotes,
  kColMinutes, kColSlo, kColObserved, kColLimit, kColMet, kColProfile, kColSamples, kColP50,
  kColP90, kColP99, kColCensored, kColMedian, kColNeverQuorate, kColNode, kColCores, kColUtilisation,
  kColFramesIn, kColEgress, kColPeakQueue, kColItem, kColValue, kColAssumption,
  kColCellsPerNode, kColAllMet, kColReplications,
  kYes, kNo, kNoData, kUnitMinutes, kQuantileShort,
  kFindingsHeading, kFindMeetings, kFindNoMeetings, kFindTally, kFindQuorum, kFindValidVotes,
  kFindNoVotes, kFindMinutes, kFindNoMinutes, kFindLatency, kFindLatencyAll, kFindLatencyMissing,
  kCondHeading, kCondQuorum, kCondLatencyProfile, kCondLatencyGeneric, kCondVotes, kCondMinutes,
  kCondMissing, kCondTally, kCondNoMeetings,
  kMetricJoin, kMetricHeartbeat, kMetricBroadcast, kMetricBallot, kMetricResult,
  kMetricTimeToQuorum,
  kRulesText, kScopeAll, kScopeType, kSloLatency, kSloQuorum, kSloNoSamples, kSloNoMeetings,
  kSloNoGroup, kSloOther, kNoSlos,
  kCdfNote, kAxisMinutes, kAxisShareQuorate, kAxisMsLog, kAxisUtilisation, kNodeLabel,
  kLatencyChartTitle, kNoServers, kUtilisationNote,
  kSizingAbsent, kSizeMaxCells, kSizeBend, kSizePeak, kSizeNodes, kSizeCores, kSizeEgress,
  kSizeMemory, kAssumeMaxCells, kAssumeCapped, kAssumeBend, kAssumePeak, kAssumeNodes, kAssumeCores,
  kAssumeEgress, kAssumeMemory, kAssumeCalibration, kSizeNone, kBendNone,
  kCapacityAbsent, kCapacityAxisX, kCapacityAxisY, kCapacityNote,
  kAttendanceAbsent, kCapacityGap,
  kBasisScenario, kBasisFile, kBasisSeed, kBasisMode, kModeSim, kModeLive, kBasisCalibration,
  kCalibrationEstimated, kBasisVersion, kBasisShards, kBasisPartial, kPartialWarning,
  kBasisVirtual, kBasisMembersCells, kBasisHost, kBasisInputs, kBasisWhat, kBasisValue,
  // Seeds, attendance over time, validation, link-bound objectives.
  kColDecidedBy, kColFurtherSeeds, kSeedsRule, kUndecidedMore, kUndecidedNever,
  kColObservedSeed, kColMetEverySeed, kBasisChartsFrom, kBasisChartsSeed, kAttendanceNote,
  kAttendanceChartTitle, kAxisMembers, kTypicalMeeting, kWorstMeeting, kSeriesPresent,
  kSeriesRequired, kMarkerClosed, kMarkerTruncated, kCellLabel, kCellSeedLabel,
  kColMeetingsTraced, kColTypicalMeeting, kColWorstMeeting, kMeetingSummary, kQuorateByDeadline,
  kNotQuorateByDeadline, kClosedAt, kNeverClosed, kNoTrace, kValidationHeading, kValidationNone,
  kValidationIntro, kValidationOk, kValidationFail, kColMetric, kColGroup, kColStat,
  kColSimulator, kColLiveServer, kColDifference, kColWithinTolerance, kStatShare, kSizeLinkBound,
  kAssumeLinkBound, kSizeServerBound, kAssumeServerBound, kLinkBoundHeading, kLinkBoundSuffix,
  kPoints, kAtCellsPerNode, kIntervalNote, kNoGaps,
  // Validation over seeds and link modes.
  kValidationSeeds, kLinkModeFrame, kLinkModePacket, kColSimSpread, kColLiveSpread,
  kNotJudged, kFindInterval, kUndecidedNoInterval, kAllCellsNote, kCheckTally, kFirstLead, kColConfidence, kColDecides, kColWouldChange, kConfFeasible, kConfNotFeasible, kConfUndecided, kTargetShort, kHoldsWhile, kFirstSizing, kFirstNoSizing, kFirstValidated, kFirstNotValidated, kFirstSeeds, kFindChairView, kQuorumSemantics, kFirstSizingCapped, kCheckVoice, kFindVoice, kCondVoice, kSecTransports, kTransportsIntro, kTransportsOnlyOne, kTransportInBand, kTransportDatagram, kColTransport, kColHeard, kColMosP10, kColMouthToEar, kColVoiceLoss, kTransportsChanges, kTransportChange, kTransportNoChange, kColP99Of, kCondVoiceDelayBound, kTransportsByProfile, kCondVoiceInBandDelay, kFirstTransports,
  kCount,
};

inline constexpr size_t kMsgCount = static_cast<size_t>(Msg::kCount);

// The string for `m` in `lang`.
std::string_view text(Lang lang, Msg m);

// text(lang, m) with {i} replaced by args[i] (as is; callers escape).
std::string format(Lang lang, Msg m, std::initializer_list<std::string> args = {});

// "vi" or "en" to a Lang. False for anything else.
bool parse_lang(std::string_view s, Lang* out);
const char* lang_code(Lang lang);

// Numbers as the language writes them: en 1,234.5 and 97.4%; vi 1.234,5 and 97,4%.
std::string fmt_int(Lang lang, uint64_t v);
std::string fmt_fixed(Lang lang, double v, int decimals);
std::string fmt_share(Lang lang, double share);  // 0.974 -> "97.4%"
std::string fmt_ms(Lang lang, double ms);        // 3 significant figures, at least integers

}  // namespace cellsim::report

#endif  // CELLSIM_REPORT_STRINGS_H_
