/**
 * The resource every span and metric carries: service.name (OTEL_SERVICE_NAME,
 * default "ebpf-otel"), host.name, host.id, os.type, plus OTEL_RESOURCE_ATTRIBUTES.
 */
import { detectResources, envDetector, hostDetector, osDetector, resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from './semconv';

export async function buildResource(version: string): Promise<Resource> {
  const base = resourceFromAttributes({
    [ATTR_SERVICE_NAME]: 'ebpf-otel',
    [ATTR_SERVICE_VERSION]: version,
  });
  // envDetector last so OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES win.
  const detected = detectResources({ detectors: [hostDetector, osDetector, envDetector] });
  await detected.waitForAsyncAttributes?.();
  return base.merge(detected);
}
