package io.nemu.vmm.hotplug;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.nemu.vmm.qmp.QmpClient;
import io.nemu.vmm.qmp.QmpEvent;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/** Blocking QMP calls for the hotplug classes: a bounded wait, QEMU's refusal as a {@link HotplugException}. */
final class QmpCalls {
    static final ObjectMapper JSON = new ObjectMapper();
    /** A QMP command answers at once; under TCG on a busy host, allow some seconds. */
    static final Duration CALL = Duration.ofSeconds(30);

    private final QmpClient qmp;

    QmpCalls(QmpClient qmp) {
        this.qmp = qmp;
    }

    static ObjectNode args() {
        return JSON.createObjectNode();
    }

    JsonNode call(String command, ObjectNode args) throws HotplugException {
        return await(qmp.execute(command, args), command + " " + (args == null ? "" : args), CALL);
    }

    /**
     * {@code device_del}, then waits for QEMU's {@code DEVICE_DELETED} of that id: with ACPI the guest must
     * first let go of the device (offline a CPU, unbind a driver), which takes its time.
     */
    void deleteDevice(String id, Duration timeout) throws HotplugException {
        CompletableFuture<QmpEvent> deleted = new CompletableFuture<>();
        java.util.function.Consumer<QmpEvent> l = e -> {
            if (e.name().equals("DEVICE_DELETED") && id.equals(e.data().path("device").asText())) {
                deleted.complete(e);
            }
        };
        qmp.addEventListener(l);
        try {
            call("device_del", args().put("id", id));
            await(deleted, "DEVICE_DELETED of " + id + " (the guest did not release it)", timeout);
        } finally {
            qmp.removeEventListener(l);
        }
    }

    private static <T> T await(CompletableFuture<T> f, String what, Duration timeout) throws HotplugException {
        try {
            return f.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            Throwable c = e.getCause() == null ? e : e.getCause();
            throw new HotplugException(what + ": " + c.getMessage(), c);
        } catch (TimeoutException e) {
            throw new HotplugException(what + ": no answer within " + timeout.toSeconds() + " s", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new HotplugException(what + ": interrupted", e);
        }
    }
}
