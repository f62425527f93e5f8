#include "core/put_attempt.hpp"

namespace hoshino::core {

PutAction PutAttempt::on_error(const s3::Error& e, bool stopping, Clock::time_point now, double random01) {
  using Kind = PutAction::Kind;
  if (conditional_ && e.code == kPreconditionFailed) {
    // An earlier attempt of ours landed, though its answer was lost.
    if (retry_.attempt() > 1) return {Kind::sent};
    // Someone wrote at our key first: the same object under a fresh key (the receiver refuses the
    // squatter's object and finds ours by LIST). Once: a writer who squats that too wins this object.
    PutAction a{squatted_ ? Kind::failed : Kind::rekey};
    a.squatted = true;
    squatted_ = true;
    return a;
  }
  if (conditional_ && e.code == "NotImplemented") {
    conditional_ = false; // and at once again, as the same attempt
    PutAction a = put();
    a.plain_puts_now = true;
    return a;
  }
  auto at = retry_.on_failure(classify_s3_error(e, false), stopping, now, random01);
  PutAction a{at ? Kind::wait : Kind::failed};
  if (at) a.at = *at;
  a.report = true;
  return a;
}

PutAction PutAttempt::on_rekeyed(bool ok) {
  if (!ok) return {PutAction::Kind::failed};
  return put(); // the same attempt (only failures count), at the new key

}

} // namespace hoshino::core
