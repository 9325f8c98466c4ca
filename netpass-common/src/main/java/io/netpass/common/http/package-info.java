/** What both services' HTTP servers need beyond Spring Boot's defaults. */
@NullMarked
package io.netpass.common.http;

import org.jspecify.annotations.NullMarked;
