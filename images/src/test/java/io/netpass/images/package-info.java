/** Tests of the container images: the services as containers, driven as an orchestrator drives them. */
@NullMarked
package io.netpass.images;

import org.jspecify.annotations.NullMarked;
