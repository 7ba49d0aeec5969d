// XEP-0202: Entity Time, version 2.0 — the server's UTC time and time zone offset (XEP-0082 formats).
import { Element } from 'ltx';
import { defineModule } from '../core/module.js';

export const NS_TIME = 'urn:xmpp:time';

/** The XEP-0082 TZD of <tzo/>: "+hh:mm" or "-hh:mm", numeric even for UTC ("+00:00"). */
export function timeZoneOffset(date: Date): string {
  // getTimezoneOffset() is UTC minus local time, in minutes: the opposite sign of a TZD.
  const minutes = -date.getTimezoneOffset();
  const sign = minutes < 0 ? '-' : '+';
  const abs = Math.abs(minutes);
  return `${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

export const timeModule = defineModule({
  name: 'time',
  implements: 'XEP-0202 Entity Time 2.0',
  hostFeatures: [NS_TIME],
  setup(ctx) {
    ctx.iq.register(`iq-get/host/${NS_TIME}`, () => {
      const now = new Date();
      const time = new Element('time', { xmlns: NS_TIME });
      time.c('tzo').t(timeZoneOffset(now));
      // XEP-0082 DateTime in UTC, with milliseconds (the fraction is allowed).
      time.c('utc').t(now.toISOString());
      return time;
    });
  },
});
