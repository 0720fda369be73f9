// Boost.JSON and Boost.URL have no compiled library in Debian 12's Boost 1.81 packages: their sources are
// compiled here, once, into libweft_web (each library's documented header-only mode, src.hpp in one TU).
#include <boost/json/src.hpp>
#include <boost/url/src.hpp>
