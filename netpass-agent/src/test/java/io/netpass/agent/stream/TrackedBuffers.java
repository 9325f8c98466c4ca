package io.netpass.agent.stream;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;

import org.springframework.core.io.buffer.DataBuffer;
import org.springframework.core.io.buffer.NettyDataBuffer;
import org.springframework.core.io.buffer.NettyDataBufferFactory;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;

/**
 * Pooled Netty buffers, as Reactor Netty hands a request body over, each remembered so that a test can check the
 * decoder released every one it was given.
 */
final class TrackedBuffers {

    private final NettyDataBufferFactory factory = new NettyDataBufferFactory(PooledByteBufAllocator.DEFAULT);
    private final List<ByteBuf> handedOut = new ArrayList<>();

    /** A new buffer holding {@code bytes[from, to)}. */
    DataBuffer copyOf(byte[] bytes, int from, int to) {
        ByteBuf buf = PooledByteBufAllocator.DEFAULT.buffer(to - from).writeBytes(bytes, from, to - from);
        handedOut.add(buf);
        return factory.wrap(buf);
    }

    DataBuffer copyOf(byte[] bytes) {
        return copyOf(bytes, 0, bytes.length);
    }

    /** A factory whose buffers are tracked too, for the encoder. */
    NettyDataBufferFactory factory() {
        return new NettyDataBufferFactory(PooledByteBufAllocator.DEFAULT) {
            @Override
            public NettyDataBuffer allocateBuffer(int initialCapacity) {
                ByteBuf buf = PooledByteBufAllocator.DEFAULT.buffer(initialCapacity);
                handedOut.add(buf);
                return wrap(buf);
            }
        };
    }

    int handedOut() {
        return handedOut.size();
    }

    void assertAllReleased() {
        for (int i = 0; i < handedOut.size(); i++) {
            assertThat(handedOut.get(i).refCnt()).as("reference count of buffer %d of %d", i, handedOut.size())
                    .isZero();
        }
    }
}
