package io.nemu.vmm.qmp;

import com.fasterxml.jackson.databind.JsonNode;

/**
 * An asynchronous QMP event such as SHUTDOWN, POWERDOWN, RESUME, STOP, DEVICE_DELETED.
 *
 * @param name           event name
 * @param data           its {@code data} object (empty object when absent)
 * @param timestampMicros QEMU's timestamp in microseconds since the epoch
 */
public record QmpEvent(String name, JsonNode data, long timestampMicros) {
}
