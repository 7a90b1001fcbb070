// Dialect from DMS settings, and the names of error kinds.

#include <fmt/format.h>

#include "csv/csv.h"

namespace opendms::csv {
namespace {

// The value as DMS users write it, for error messages: control characters escaped.
std::string Printable(std::string_view value) {
  std::string out;
  for (char c : value) {
    switch (c) {
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
        } else {
          out += c;
        }
    }
  }
  return out;
}

}  // namespace

Result<Dialect> Dialect::FromDms(std::string_view csv_delimiter, std::string_view csv_row_delimiter,
                                 bool rfc4180) {
  Dialect dialect;
  dialect.rfc4180 = rfc4180;

  if (csv_delimiter.size() == 1) {
    dialect.delimiter = csv_delimiter[0];
  } else if (csv_delimiter == "\\t") {
    // The console and JSON documents often carry the tab written escaped.
    dialect.delimiter = '\t';
  } else {
    return Status::InvalidArgument(
        fmt::format("CsvDelimiter must be a single character (or \"\\t\"), got \"{}\"",
                    Printable(csv_delimiter)));
  }

  if (csv_row_delimiter == "\n" || csv_row_delimiter == "\\n") {
    dialect.row_delimiter = RowDelimiter::kLf;
  } else if (csv_row_delimiter == "\r\n" || csv_row_delimiter == "\\r\\n") {
    dialect.row_delimiter = RowDelimiter::kCrLf;
  } else {
    return Status::InvalidArgument(fmt::format(
        "CsvRowDelimiter must be \"\\n\" or \"\\r\\n\", got \"{}\"", Printable(csv_row_delimiter)));
  }

  RETURN_IF_ERROR(dialect.Validate());
  return dialect;
}

Status Dialect::Validate() const {
  if (delimiter == '\n' || (delimiter == '\r' && row_delimiter == RowDelimiter::kCrLf)) {
    return Status::InvalidArgument(fmt::format("CsvDelimiter \"{}\" is part of the row delimiter",
                                               Printable(std::string(1, delimiter))));
  }
  if (rfc4180) {
    if (quote == delimiter) {
      return Status::InvalidArgument(
          fmt::format("CsvDelimiter \"{}\" is the quote character, which Rfc4180 reserves",
                      Printable(std::string(1, delimiter))));
    }
    if (quote == '\n' || quote == '\r') {
      return Status::InvalidArgument("the quote character cannot be a row delimiter character");
    }
  }
  return Status::Ok();
}

std::string_view CsvErrorKindName(CsvErrorKind kind) {
  switch (kind) {
    case CsvErrorKind::kUnterminatedQuote:
      return "UnterminatedQuote";
    case CsvErrorKind::kInvalidQuoting:
      return "InvalidQuoting";
    case CsvErrorKind::kRowTooLong:
      return "RowTooLong";
    case CsvErrorKind::kReadError:
      return "ReadError";
  }
  return "Unknown";
}

}  // namespace opendms::csv
