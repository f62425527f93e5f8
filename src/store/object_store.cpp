#include "store/object_store.hpp"

namespace hoshino::store {

std::string_view to_string(OpKind op) {
  switch (op) {
    case OpKind::put: return "put";
    case OpKind::list: return "list";
    case OpKind::get: return "get";
    case OpKind::remove: return "delete";
  }
  return "unknown";
}

} // namespace hoshino::store
