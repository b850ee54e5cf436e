// menwei-central dashboard: plain JavaScript, no framework, no build step, nothing fetched from
// outside this service. Pages are chosen by the URL's hash (#/overview, #/live, ...). All
// user-visible strings are in STRINGS below; Chinese is the default, English is switchable and
// the choice persists in localStorage. Data from the API is only ever put into the page as text
// (textContent / SVG attributes), never as HTML.
'use strict';

(function () {
  // ---- strings -------------------------------------------------------------------------------

  const STRINGS = {
    zh: {
      'app.title': '社区治理平台',
      'nav.overview': '总览', 'nav.live': '实时', 'nav.orders': '工单', 'nav.register': '登记',
      'nav.edges': '设备', 'nav.stats': '统计', 'nav.logout': '退出', 'lang.switch': 'English',
      'common.loading': '加载中…', 'common.none': '无', 'common.empty': '暂无数据',
      'common.refresh': '刷新', 'common.cancel': '取消', 'common.save': '保存', 'common.yes': '是',
      'common.no': '否', 'common.all': '全部', 'common.back': '返回', 'common.unknown': '未知',
      'common.actions': '操作', 'common.delete': '删除', 'common.confirm_again': '再点一次确认',
      'common.updated': '更新于 {time}',
      'err.network': '无法连接服务器，请检查网络。',
      'err.400': '输入有误', 'err.401': '未登录或登录已过期', 'err.403': '无权限',
      'err.404': '未找到', 'err.429': '请求过于频繁，请稍后再试', 'err.500': '服务器错误',
      'err.other': '请求失败（{status}）', 'err.fields': '请检查以下字段：',
      'role.admin': '管理员', 'role.property': '物业', 'role.grid': '网格员', 'role.readonly': '只读',
      'login.title': '登录', 'login.username': '用户名', 'login.password': '密码',
      'login.submit': '登录', 'login.bad': '用户名或密码错误。', 'login.busy': '正在登录…',
      'overview.title': '总览：一图看社区', 'overview.empty': '尚未登记任何社区。请用 menwei-central structure 导入结构文件。',
      'overview.district': '区', 'overview.community': '社区',
      'overview.legend': '图例', 'overview.grids': '网格', 'overview.open': '待办 {n}',
      'overview.overdue': '超期 {n}', 'overview.orders_scale': '红色越深，网格待办工单越多',
      'overview.gate_online': '门岗设备在线', 'overview.gate_offline': '门岗设备离线',
      'overview.gate_unknown': '门岗设备未上报', 'overview.behind': '名单未同步',
      'overview.building_tip': '{building} · {grid} · 待办工单 {n}',
      'overview.gate_tip': '{gate}门 · {status}', 'overview.property': '物业：{name}',
      'live.title': '实时事件', 'live.connecting': '正在连接…', 'live.open': '实时连接中',
      'live.error': '连接中断，正在重连…', 'live.empty': '暂无事件。新事件会出现在最上方。',
      'col.time': '时间', 'col.compound': '小区', 'col.gate': '门岗', 'col.kind': '类型',
      'col.subject': '对象', 'col.decision': '结果 / 原因', 'col.order': '工单',
      'col.id': '编号', 'col.grid': '网格', 'col.state': '状态', 'col.assignee': '负责人',
      'col.opened': '开单时间', 'col.due': '期限', 'col.last_event': '最近事件', 'col.events': '事件数',
      'col.ref': '编号', 'col.building': '楼栋', 'col.unit': '单元', 'col.room': '房号',
      'col.phone': '电话', 'col.residents': '人数', 'col.household': '户', 'col.name': '姓名',
      'col.status': '状态', 'col.face': '人脸通行', 'col.consent_at': '同意时间',
      'col.consent_method': '同意方式', 'col.guardian': '监护人', 'col.plate': '车牌',
      'col.color': '颜色', 'col.blocked': '禁止通行', 'col.visitor': '访客', 'col.pass_kind': '方式',
      'col.valid_from': '生效', 'col.valid_until': '失效', 'col.edge': '设备', 'col.last_seen': '最后上报',
      'col.cameras': '摄像头', 'col.outbox': '待发事件', 'col.version': '名单版本',
      'col.duplicates': '重复事件', 'col.contiguous': '连续序号', 'col.resident': '住户',
      'col.requested': '申请时间', 'col.pending': '状态', 'col.targets': '各设备确认',
      'col.at': '时间', 'col.actor': '操作人', 'col.action': '动作', 'col.note': '说明',
      'col.row': '行', 'col.field': '字段', 'col.message': '问题', 'col.count': '数量',
      'subject.resident': '住户', 'subject.unknown_face': '陌生人', 'subject.camera': '摄像头',
      'subject.vehicle': '车辆', 'subject.none': '—',
      'decision.granted': '放行', 'decision.denied': '拒绝',
      'kind.access.granted': '通行', 'kind.access.denied': '拒绝通行',
      'kind.security.repeat_stranger': '陌生人反复出现',
      'kind.health.camera_offline': '摄像头离线', 'kind.health.camera_stalled': '摄像头无画面',
      'kind.health.camera_online': '摄像头恢复', 'kind.health.camera_tampered': '摄像头被遮挡/干扰',
      'kind.outbox.dropped': '事件丢弃标记',
      'reason.resident_face': '人脸识别', 'reason.registered_vehicle': '登记车辆',
      'reason.visitor_pass': '访客通行证', 'reason.unknown_vehicle': '未登记车辆',
      'reason.blocked_plate': '禁行车辆', 'reason.expired_pass': '通行证已过期',
      'reason.pass_not_yet_valid': '通行证未生效', 'reason.ambiguous_plate': '车牌无法确定',
      'reason.blocked_person': '已停用住户', 'reason.repeat_stranger': '陌生人多次出现',
      'orders.title': '工单', 'orders.state': '状态', 'orders.grid': '网格',
      'orders.empty': '没有符合条件的工单。', 'orders.ack': '确认', 'orders.resolve': '办结',
      'orders.resolve_note': '办结说明', 'orders.resolve_submit': '提交办结',
      'orders.note_required': '请填写办结说明。', 'orders.history': '处理记录',
      'orders.detail': '工单 #{id}', 'orders.overdue': '超期', 'orders.unassigned': '未分派',
      'orders.acked': '工单 #{id} 已确认。', 'orders.resolved': '工单 #{id} 已办结。',
      'state.open': '待处理', 'state.acknowledged': '已确认', 'state.resolved': '已办结',
      'action.opened': '开单', 'action.joined': '合并事件', 'action.acknowledged': '确认',
      'action.ack': '确认', 'action.resolved': '办结', 'action.resolve': '办结',
      'action.assigned': '分派', 'action.notified': '已通知', 'action.overdue': '超期',
      'register.title': '登记', 'tab.households': '住户家庭', 'tab.residents': '居民',
      'tab.vehicles': '车辆', 'tab.passes': '访客通行证',
      'register.import': 'CSV 导入', 'register.import_submit': '导入',
      'register.import_choose': '请先选择 CSV 文件。', 'register.imported': '已导入 {n} 行。',
      'register.import_failed': '导入失败，没有任何行被写入：', 'register.export': '导出 CSV',
      'register.add_vehicle': '添加车辆', 'register.issue_pass': '签发访客通行证',
      'register.add_household': '添加住户家庭', 'register.add_resident': '添加居民',
      'register.consent_hint': '开通人脸通行须记录本人（或监护人）的同意：日期和方式。',
      'register.added': '已保存。', 'register.erase': '删除个人信息',
      'register.erase_started': '已发出删除指令，等待各设备确认（见“设备”页）。',
      'register.revoke': '撤销', 'register.token': '二维码令牌（只显示一次）：',
      'register.face_on': '已开通', 'register.face_off': '未开通',
      'color.blue': '蓝', 'color.yellow': '黄', 'color.green': '绿', 'color.white': '白', 'color.black': '黑',
      'pass.plate': '车牌', 'pass.qr': '二维码',
      'pstate.active': '有效', 'pstate.pending': '未生效', 'pstate.expired': '已过期', 'pstate.revoked': '已撤销',
      'rstatus.active': '正常', 'rstatus.suspended': '停用', 'rstatus.erased': '已删除', 'rstatus.moved_out': '已迁出',
      'field.plate': '车牌', 'field.household': '户编号', 'field.color': '颜色', 'field.blocked': '禁止通行',
      'field.compound': '小区', 'field.kind': '方式', 'field.visitor': '访客姓名',
      'field.valid_from_ms': '生效时间', 'field.valid_until_ms': '失效时间',
      'field.ref': '编号', 'field.resident_ref': '居民编号',
      'field.building': '楼栋', 'field.unit': '单元', 'field.room': '房号', 'field.phone': '联系电话',
      'field.name': '姓名', 'field.status': '状态', 'field.face_enabled': '开通人脸通行',
      'field.consent_at': '同意日期', 'field.consent_method': '同意方式', 'field.guardian': '监护人姓名',
      'edges.title': '设备状态', 'edges.empty': '还没有设备上报。', 'edges.erasures': '个人信息删除',
      'edges.erasures_empty': '没有删除请求。', 'edges.behind': '落后 {n} 版',
      'edges.pending': '待确认', 'edges.done': '已完成', 'edges.confirmed': '已确认',
      'edges.waiting': '等待中', 'edges.warnings': '结构中没有的名称',
      'edges.warning': '{compound}：{what}（{n} 条事件，首次 {first}）', 'status.online': '在线', 'status.offline': '离线',
      'status.unknown': '未上报', 'time.ago_s': '{n} 秒前', 'time.ago_m': '{n} 分钟前',
      'time.ago_h': '{n} 小时前', 'time.ago_d': '{n} 天前', 'time.never': '从未',
      'stats.title': '统计', 'stats.entries': '每小时进入次数（按类型）', 'stats.anomalies': '各网格异常数',
      'stats.hours': '时段', 'stats.h24': '最近 24 小时', 'stats.h48': '最近 48 小时', 'stats.h168': '最近 7 天',
      'entry.resident': '住户', 'entry.visitor': '访客', 'entry.unknown': '未知',
      'stats.total': '合计 {n}',
      'consent.written': '书面同意', 'consent.app': '手机应用', 'consent.guardian': '监护人同意',
      'staff.cadre': '社区干部', 'staff.liaison': '部门联络员', 'staff.building_head': '楼栋长',
      'staff.unit_head': '单元长', 'staff.volunteer': '志愿者', 'actor.system': '系统',
    },
    en: {
      'app.title': 'Community governance',
      'nav.overview': 'Overview', 'nav.live': 'Live', 'nav.orders': 'Work orders', 'nav.register': 'Register',
      'nav.edges': 'Devices', 'nav.stats': 'Statistics', 'nav.logout': 'Log out', 'lang.switch': '中文',
      'common.loading': 'Loading…', 'common.none': 'none', 'common.empty': 'No data',
      'common.refresh': 'Refresh', 'common.cancel': 'Cancel', 'common.save': 'Save', 'common.yes': 'yes',
      'common.no': 'no', 'common.all': 'All', 'common.back': 'Back', 'common.unknown': 'unknown',
      'common.actions': 'Actions', 'common.delete': 'Delete', 'common.confirm_again': 'Click again to confirm',
      'common.updated': 'updated {time}',
      'err.network': 'Cannot reach the server; check the network.',
      'err.400': 'Invalid input', 'err.401': 'Not logged in, or the session expired', 'err.403': 'Not allowed',
      'err.404': 'Not found', 'err.429': 'Too many requests; try again shortly', 'err.500': 'Server error',
      'err.other': 'Request failed ({status})', 'err.fields': 'Check these fields:',
      'role.admin': 'admin', 'role.property': 'property', 'role.grid': 'grid staff', 'role.readonly': 'read-only',
      'login.title': 'Log in', 'login.username': 'User name', 'login.password': 'Password',
      'login.submit': 'Log in', 'login.bad': 'Wrong user name or password.', 'login.busy': 'Logging in…',
      'overview.title': 'Overview: one picture to see the community',
      'overview.empty': 'No community is registered yet. Load a structure file with menwei-central structure.',
      'overview.district': 'District', 'overview.community': 'Community',
      'overview.legend': 'Legend', 'overview.grids': 'Grids', 'overview.open': '{n} open',
      'overview.overdue': '{n} overdue', 'overview.orders_scale': 'Deeper red: more open work orders in the grid',
      'overview.gate_online': 'Gate device online', 'overview.gate_offline': 'Gate device offline',
      'overview.gate_unknown': 'Gate device never reported', 'overview.behind': 'register behind',
      'overview.building_tip': '{building} · {grid} · {n} open work orders',
      'overview.gate_tip': 'Gate {gate} · {status}', 'overview.property': 'Property: {name}',
      'live.title': 'Live events', 'live.connecting': 'Connecting…', 'live.open': 'Live',
      'live.error': 'Disconnected, reconnecting…', 'live.empty': 'No events yet. New ones appear on top.',
      'col.time': 'Time', 'col.compound': 'Compound', 'col.gate': 'Gate', 'col.kind': 'Kind',
      'col.subject': 'Subject', 'col.decision': 'Decision / reason', 'col.order': 'Order',
      'col.id': 'No.', 'col.grid': 'Grid', 'col.state': 'State', 'col.assignee': 'Assignee',
      'col.opened': 'Opened', 'col.due': 'Due', 'col.last_event': 'Last event', 'col.events': 'Events',
      'col.ref': 'Ref', 'col.building': 'Building', 'col.unit': 'Unit', 'col.room': 'Room',
      'col.phone': 'Phone', 'col.residents': 'Residents', 'col.household': 'Household', 'col.name': 'Name',
      'col.status': 'Status', 'col.face': 'Face entry', 'col.consent_at': 'Consent at',
      'col.consent_method': 'Consent method', 'col.guardian': 'Guardian', 'col.plate': 'Plate',
      'col.color': 'Colour', 'col.blocked': 'Blocked', 'col.visitor': 'Visitor', 'col.pass_kind': 'Kind',
      'col.valid_from': 'Valid from', 'col.valid_until': 'Valid until', 'col.edge': 'Device', 'col.last_seen': 'Last seen',
      'col.cameras': 'Cameras', 'col.outbox': 'Outbox', 'col.version': 'Register version',
      'col.duplicates': 'Duplicates', 'col.contiguous': 'Contiguous seq', 'col.resident': 'Resident',
      'col.requested': 'Requested', 'col.pending': 'State', 'col.targets': 'Confirmations',
      'col.at': 'Time', 'col.actor': 'By', 'col.action': 'Action', 'col.note': 'Note',
      'col.row': 'Row', 'col.field': 'Field', 'col.message': 'Problem', 'col.count': 'Count',
      'subject.resident': 'resident', 'subject.unknown_face': 'unknown', 'subject.camera': 'camera',
      'subject.vehicle': 'vehicle', 'subject.none': '—',
      'decision.granted': 'granted', 'decision.denied': 'denied',
      'kind.access.granted': 'Access granted', 'kind.access.denied': 'Access denied',
      'kind.security.repeat_stranger': 'Repeated stranger',
      'kind.health.camera_offline': 'Camera offline', 'kind.health.camera_stalled': 'Camera stalled',
      'kind.health.camera_online': 'Camera back online', 'kind.health.camera_tampered': 'Camera tampered',
      'kind.outbox.dropped': 'Dropped-event marker',
      'reason.resident_face': 'resident face', 'reason.registered_vehicle': 'registered vehicle',
      'reason.visitor_pass': 'visitor pass', 'reason.unknown_vehicle': 'unknown vehicle',
      'reason.blocked_plate': 'blocked plate', 'reason.expired_pass': 'expired pass',
      'reason.pass_not_yet_valid': 'pass not yet valid', 'reason.ambiguous_plate': 'ambiguous plate',
      'reason.blocked_person': 'suspended resident', 'reason.repeat_stranger': 'stranger seen repeatedly',
      'orders.title': 'Work orders', 'orders.state': 'State', 'orders.grid': 'Grid',
      'orders.empty': 'No work orders match.', 'orders.ack': 'Acknowledge', 'orders.resolve': 'Resolve',
      'orders.resolve_note': 'Resolution note', 'orders.resolve_submit': 'Resolve',
      'orders.note_required': 'Write a resolution note.', 'orders.history': 'History',
      'orders.detail': 'Work order #{id}', 'orders.overdue': 'overdue', 'orders.unassigned': 'unassigned',
      'orders.acked': 'Work order #{id} acknowledged.', 'orders.resolved': 'Work order #{id} resolved.',
      'state.open': 'open', 'state.acknowledged': 'acknowledged', 'state.resolved': 'resolved',
      'action.opened': 'opened', 'action.joined': 'event joined', 'action.acknowledged': 'acknowledged',
      'action.ack': 'acknowledged', 'action.resolved': 'resolved', 'action.resolve': 'resolved',
      'action.assigned': 'assigned', 'action.notified': 'notified', 'action.overdue': 'overdue',
      'register.title': 'Register', 'tab.households': 'Households', 'tab.residents': 'Residents',
      'tab.vehicles': 'Vehicles', 'tab.passes': 'Visitor passes',
      'register.import': 'CSV import', 'register.import_submit': 'Import',
      'register.import_choose': 'Choose a CSV file first.', 'register.imported': '{n} rows imported.',
      'register.import_failed': 'Import failed; no row was applied:', 'register.export': 'Export CSV',
      'register.add_vehicle': 'Add a vehicle', 'register.issue_pass': 'Issue a visitor pass',
      'register.add_household': 'Add a household', 'register.add_resident': 'Add a resident',
      'register.consent_hint': 'Face entry needs a recorded consent (the resident\'s, or a guardian\'s): when and how it was given.',
      'register.added': 'Saved.', 'register.erase': 'Erase personal data',
      'register.erase_started': 'Erasure sent; waiting for each device to confirm (see Devices).',
      'register.revoke': 'Revoke', 'register.token': 'QR token (shown once):',
      'register.face_on': 'enabled', 'register.face_off': 'off',
      'color.blue': 'blue', 'color.yellow': 'yellow', 'color.green': 'green', 'color.white': 'white', 'color.black': 'black',
      'pass.plate': 'plate', 'pass.qr': 'QR code',
      'pstate.active': 'active', 'pstate.pending': 'not yet valid', 'pstate.expired': 'expired', 'pstate.revoked': 'revoked',
      'rstatus.active': 'active', 'rstatus.suspended': 'suspended', 'rstatus.erased': 'erased', 'rstatus.moved_out': 'moved out',
      'field.plate': 'Plate', 'field.household': 'Household ref', 'field.color': 'Colour', 'field.blocked': 'Blocked',
      'field.compound': 'Compound', 'field.kind': 'Kind', 'field.visitor': 'Visitor name',
      'field.valid_from_ms': 'Valid from', 'field.valid_until_ms': 'Valid until',
      'field.ref': 'Ref', 'field.resident_ref': 'Resident ref',
      'field.building': 'Building', 'field.unit': 'Unit', 'field.room': 'Room', 'field.phone': 'Phone',
      'field.name': 'Name', 'field.status': 'Status', 'field.face_enabled': 'Face entry',
      'field.consent_at': 'Consent date', 'field.consent_method': 'Consent given', 'field.guardian': 'Guardian\'s name',
      'edges.title': 'Device health', 'edges.empty': 'No device has reported yet.', 'edges.erasures': 'Erasure of personal data',
      'edges.erasures_empty': 'No erasure requests.', 'edges.behind': '{n} behind',
      'edges.pending': 'pending', 'edges.done': 'done', 'edges.confirmed': 'confirmed',
      'edges.waiting': 'waiting', 'edges.warnings': 'Names not in the structure',
      'edges.warning': '{compound}: {what} ({n} events, first {first})', 'status.online': 'online', 'status.offline': 'offline',
      'status.unknown': 'never reported', 'time.ago_s': '{n} s ago', 'time.ago_m': '{n} min ago',
      'time.ago_h': '{n} h ago', 'time.ago_d': '{n} d ago', 'time.never': 'never',
      'stats.title': 'Statistics', 'stats.entries': 'Entries per hour by kind', 'stats.anomalies': 'Anomalies per grid',
      'stats.hours': 'Period', 'stats.h24': 'last 24 hours', 'stats.h48': 'last 48 hours', 'stats.h168': 'last 7 days',
      'entry.resident': 'resident', 'entry.visitor': 'visitor', 'entry.unknown': 'unknown',
      'stats.total': 'total {n}',
      'consent.written': 'written', 'consent.app': 'phone app', 'consent.guardian': 'by guardian',
      'staff.cadre': 'community cadre', 'staff.liaison': 'department liaison', 'staff.building_head': 'building head',
      'staff.unit_head': 'unit head', 'staff.volunteer': 'volunteer', 'actor.system': 'system',
    },
  };

  let lang = localStorage.getItem('menwei.lang') === 'en' ? 'en' : 'zh';

  /** The string for `key` in the current language, with `{name}` filled from `vars`. */
  function t(key, vars) {
    let s = STRINGS[lang][key];
    if (s === undefined) s = STRINGS.zh[key];
    if (s === undefined) s = key;
    if (vars) s = s.replace(/\{(\w+)\}/g, (m, k) => (vars[k] === undefined || vars[k] === null ? m : String(vars[k])));
    return s;
  }

  /** A translated code word (`kind`, `reason`, ...), or the word itself when it has none. */
  function word(prefix, value) {
    if (value === null || value === undefined || value === '') return '';
    const key = prefix + '.' + value;
    return STRINGS[lang][key] !== undefined || STRINGS.zh[key] !== undefined ? t(key) : String(value);
  }

  // ---- DOM helpers -----------------------------------------------------------------------------

  const PROPS = new Set(['value', 'checked', 'disabled', 'hidden', 'selected', 'multiple']);

  function append(el, kids) {
    for (const k of kids.flat(Infinity)) {
      if (k === null || k === undefined || k === false) continue;
      el.append(k instanceof Node ? k : String(k));
    }
  }

  /** An HTML element; `attrs` keys starting with "on" are listeners, `text` is textContent. */
  function h(tag, attrs, ...kids) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else if (k === 'text') el.textContent = v;
      // Through the CSSOM: the Content-Security-Policy refuses style attributes.
      else if (k === 'style') el.style.cssText = v;
      else if (PROPS.has(k)) el[k] = v;
      else el.setAttribute(k, v === true ? '' : String(v));
    }
    append(el, kids);
    return el;
  }

  const SVGNS = 'http://www.w3.org/2000/svg';

  function s(tag, attrs, ...kids) {
    const el = document.createElementNS(SVGNS, tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined) continue;
      if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else if (k === 'style') el.style.cssText = v;
      else el.setAttribute(k, String(v));
    }
    append(el, kids);
    return el;
  }

  const $ = (sel, root) => (root || document).querySelector(sel);

  function loadingBox() {
    return h('div', { class: 'loading', 'data-testid': 'page-loading' }, h('span', { class: 'spinner' }), t('common.loading'));
  }

  function badge(text, cls, attrs) {
    return h('span', Object.assign({ class: 'badge ' + (cls || '') }, attrs || {}), text);
  }

  function pad(n) { return String(n).padStart(2, '0'); }

  /** Local date and time, `YYYY-MM-DD HH:mm:ss`, from milliseconds or an RFC 3339 string. */
  function fmtTime(x) {
    if (x === null || x === undefined || x === '') return '';
    const d = new Date(x);
    if (isNaN(d.getTime())) return String(x);
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }

  /** A day as given (`YYYY-MM-DD`, a date without a time zone, shown as is); a full
   *  timestamp in local time. A bare date read by `Date` is midnight UTC, which west of UTC
   *  would show as the day before. */
  function fmtDay(x) {
    return typeof x === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(x) ? x : fmtTime(x);
  }

  function fmtAgo(ms) {
    if (ms === null || ms === undefined) return t('time.never');
    const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
    if (s < 90) return t('time.ago_s', { n: s });
    if (s < 90 * 60) return t('time.ago_m', { n: Math.round(s / 60) });
    if (s < 36 * 3600) return t('time.ago_h', { n: Math.round(s / 3600) });
    return t('time.ago_d', { n: Math.round(s / 86400) });
  }

  /** `datetime-local` input value for milliseconds, and back. */
  function toLocalInput(ms) {
    const d = new Date(ms);
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
  }
  function fromLocalInput(v) {
    if (!v) return null;
    const ms = new Date(v).getTime();
    return isNaN(ms) ? null : ms;
  }

  // ---- busy indicator and errors -------------------------------------------------------------

  let inFlight = 0;
  function busy(delta) {
    inFlight = Math.max(0, inFlight + delta);
    $('#busy').hidden = inFlight === 0;
    document.body.dataset.busy = String(inFlight);
  }

  function showError(msg) {
    $('#error-banner').classList.remove('info');
    $('#error-text').textContent = msg;
    $('#error-banner').hidden = false;
  }
  function showNotice(msg) {
    showError(msg);
    $('#error-banner').classList.add('info');
  }
  function clearError() {
    $('#error-banner').classList.remove('info');
    $('#error-banner').hidden = true;
    $('#error-text').textContent = '';
  }

  class ApiError extends Error {
    constructor(status, body) {
      super((body && body.error) || '');
      this.status = status;
      this.fields = (body && body.fields) || {};
      this.rows = (body && Array.isArray(body.rows)) ? body.rows : null;
    }
  }

  /** One line for the user: what kind of failure, then the server's own message; the field
   *  errors too, unless `noFields` (a form that shows them next to its inputs). */
  function describe(err, noFields) {
    if (!(err instanceof ApiError)) return String(err && err.message ? err.message : err);
    if (err.status === 0) return t('err.network');
    const head = ['400', '401', '403', '404', '429'].includes(String(err.status))
      ? t('err.' + err.status)
      : err.status >= 500 ? t('err.500') : t('err.other', { status: err.status });
    let msg = err.message ? `${head}: ${err.message}` : head;
    const fields = noFields ? [] : Object.entries(err.fields || {});
    if (fields.length) msg += '\n' + t('err.fields') + ' ' + fields.map(([k, v]) => `${word('field', k) || k}: ${v}`).join('; ');
    return msg;
  }

  // ---- API -------------------------------------------------------------------------------------

  // The session is the HttpOnly cookie that login sets; the token from login is also kept in
  // memory (never in storage) and sent as a Bearer header for this page's lifetime.
  let token = null;
  let me = null;

  async function api(method, path, body, opts) {
    opts = opts || {};
    busy(+1);
    try {
      const headers = { Accept: 'application/json' };
      if (token) headers.Authorization = 'Bearer ' + token;
      let payload;
      if (body !== undefined) {
        if (opts.csv) {
          headers['Content-Type'] = 'text/csv; charset=utf-8';
          payload = body;
        } else {
          headers['Content-Type'] = 'application/json';
          payload = JSON.stringify(body);
        }
      }
      let res;
      try {
        res = await fetch('/api' + path, { method, headers, body: payload, credentials: 'same-origin' });
      } catch (e) {
        throw new ApiError(0, { error: t('err.network') });
      }
      const text = await res.text();
      let data = null;
      if (text) {
        try { data = JSON.parse(text); } catch (e) { data = null; }
      }
      if (!res.ok) {
        const err = new ApiError(res.status, data && typeof data === 'object' ? data : { error: res.statusText || '' });
        if (res.status === 401 && !opts.noRedirect) loggedOut();
        throw err;
      }
      return data;
    } finally {
      busy(-1);
    }
  }

  // Names of compounds and grids, for showing events and orders; loaded from /api/overview.
  let names = null;
  async function loadNames(force) {
    if (names && !force) return names;
    const ov = await api('GET', '/overview');
    const n = { compounds: new Map(), grids: new Map(), gridList: [], compoundList: [], overview: ov };
    for (const d of ov.districts || []) {
      for (const c of d.communities || []) {
        for (const g of c.grids || []) {
          n.grids.set(String(g.id), g.name);
          n.gridList.push(g);
        }
        for (const cp of c.compounds || []) {
          n.compounds.set(String(cp.code), cp.name);
          n.compounds.set(String(cp.id), cp.name);
          n.compoundList.push(cp);
        }
      }
    }
    names = n;
    return n;
  }
  function compoundName(code) {
    return (names && names.compounds.get(String(code))) || code || '';
  }

  // ---- routing ---------------------------------------------------------------------------------

  let pageGen = 0;          // bumped on every navigation; async work of an old page checks it
  let cleanups = [];        // run when leaving a page (timers, event streams)
  let afterLogin = '#/overview';

  function leavePage() {
    for (const f of cleanups) { try { f(); } catch (e) { /* ignore */ } }
    cleanups = [];
  }

  function parseHash() {
    const raw = location.hash.replace(/^#\/?/, '');
    return raw.split('/').filter(Boolean).map(decodeURIComponent);
  }

  function loggedOut() {
    me = null;
    token = null;
    names = null;
    updateChrome();
    const here = location.hash;
    if (!here.startsWith('#/login')) {
      if (here && here !== '#/') afterLogin = here;
      location.hash = '#/login';
    }
  }

  function updateChrome() {
    $('#nav').hidden = !me;
    $('#logout').hidden = !me;
    $('#user-name').textContent = me ? `${me.username} · ${word('role', me.role)}` : '';
    // Read-only users are refused every change by the server; do not offer them one.
    document.body.classList.toggle('readonly', !!me && me.role === 'readonly');
    const [page] = parseHash();
    for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.dataset.route === page);
  }

  function applyStaticStrings() {
    document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
    document.title = (lang === 'zh' ? '门卫 · ' : 'menwei · ') + t('app.title');
    for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
    $('#lang-toggle').textContent = t('lang.switch');
  }

  const PAGES = {
    login: pageLogin,
    overview: pageOverview,
    live: pageLive,
    orders: pageOrders,
    register: pageRegister,
    edges: pageEdges,
    stats: pageStats,
  };

  async function route() {
    leavePage();
    const gen = ++pageGen;
    clearError();
    const parts = parseHash();
    if (!PAGES[parts[0]]) {
      // No page (or an unknown one): the overview, which goes to login when there is no session.
      location.replace('#/overview');
      return;
    }
    const page = parts[0];
    if (page !== 'login' && !me) {
      try {
        me = await api('GET', '/me', undefined, { noRedirect: true });
      } catch (e) {
        if (gen !== pageGen) return;
        if (e instanceof ApiError && e.status === 401) {
          loggedOut();
          return;
        }
        showError(describe(e));
        return;
      }
      if (gen !== pageGen) return;
    }
    updateChrome();
    const main = $('#main');
    main.replaceChildren(loadingBox());
    main.dataset.page = page;
    try {
      await PAGES[page](main, parts.slice(1), () => gen === pageGen);
    } catch (e) {
      if (gen !== pageGen) return;
      if (e instanceof ApiError && e.status === 401) return;
      main.replaceChildren(h('div', { class: 'panel form-error', 'data-testid': 'page-error' }, describe(e)));
    }
  }

  // ---- login -----------------------------------------------------------------------------------

  async function pageLogin(main) {
    if (me) {
      location.replace(afterLogin || '#/overview');
      return;
    }
    const err = h('div', { id: 'login-error', class: 'form-error', 'data-testid': 'login-error', role: 'alert' });
    const user = h('input', { id: 'login-username', name: 'username', autocomplete: 'username', required: true });
    const pass = h('input', { id: 'login-password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
    const submit = h('button', { id: 'login-submit', type: 'submit', class: 'primary' }, t('login.submit'));
    const form = h('form', { id: 'login-form', class: 'stack', novalidate: true },
      h('label', {}, t('login.username'), user, h('span', { class: 'field-error', 'data-field-error': 'username' })),
      h('label', {}, t('login.password'), pass, h('span', { class: 'field-error', 'data-field-error': 'password' })),
      submit, err);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      err.textContent = '';
      clearFieldErrors(form);
      submit.disabled = true;
      submit.textContent = t('login.busy');
      try {
        const res = await api('POST', '/login', { username: user.value, password: pass.value }, { noRedirect: true });
        token = res.token || null;
        me = res.user;
        names = null;
        const next = afterLogin && !afterLogin.startsWith('#/login') ? afterLogin : '#/overview';
        afterLogin = '#/overview';
        location.hash = next;
      } catch (e) {
        submit.disabled = false;
        submit.textContent = t('login.submit');
        if (e instanceof ApiError && e.status === 401) err.textContent = t('login.bad');
        else {
          const rest = showFieldErrors(form, e.fields);
          err.textContent = describe(e, true) + (rest.length ? `\n${t('err.fields')} ${rest.join('; ')}` : '');
        }
      }
    });
    main.replaceChildren(h('div', { id: 'login-box', class: 'panel' }, h('h1', {}, t('login.title')), form));
    user.focus();
  }

  // ---- forms -----------------------------------------------------------------------------------

  function clearFieldErrors(form) {
    for (const el of form.querySelectorAll('.invalid')) el.classList.remove('invalid');
    for (const el of form.querySelectorAll('[data-field-error]')) el.textContent = '';
  }

  /** Puts each field's message next to its input; returns the messages with no input. */
  function showFieldErrors(form, fields) {
    const rest = [];
    for (const [name, msg] of Object.entries(fields || {})) {
      const slot = form.querySelector(`[data-field-error="${CSS.escape(name)}"]`);
      const input = form.querySelector(`[name="${CSS.escape(name)}"]`);
      if (input) input.classList.add('invalid');
      if (slot) slot.textContent = msg;
      else rest.push(`${word('field', name)}: ${msg}`);
    }
    return rest;
  }

  function field(name, label, input) {
    input.name = input.name || name;
    return h('label', { class: input.type === 'checkbox' ? 'check' : null }, label, input,
      h('span', { class: 'field-error', 'data-field-error': name }));
  }

  /** Runs `send` for a form: disables its button, shows field errors and the outcome. */
  async function submitForm(form, outcome, send) {
    const btn = form.querySelector('button[type=submit]');
    clearFieldErrors(form);
    outcome.className = '';
    outcome.textContent = '';
    if (btn) btn.disabled = true;
    try {
      await send();
    } catch (e) {
      const rest = showFieldErrors(form, e.fields);
      outcome.className = 'form-error';
      outcome.textContent = describe(e, true) + (rest.length ? `\n${t('err.fields')} ${rest.join('; ')}` : '');
    } finally {
      if (btn) btn.disabled = false;
    }
  }

  // ---- overview: one map per community ---------------------------------------------------------

  // Per grid: a light fill and a strong outline, so that the grid stays readable under the red
  // of open work orders (drawn inside the outline).
  const GRID_COLOURS = [['#cfe3f7', '#2e6fb5'], ['#d7efd9', '#2f8a4c'], ['#f5e3c8', '#b9771c'], ['#e4d9f3', '#6d4fa8'],
    ['#f3d6e4', '#a83f73'], ['#d3eeee', '#23817f'], ['#ece9c9', '#7d7420'], ['#e0e0e0', '#5b6670']];
  const STATUS_COLOURS = { online: '#2e9e5b', offline: '#cf3b3b', null: '#8a949e' };

  function ordersOpacity(n) {
    return n > 0 ? Math.min(0.85, 0.25 + 0.15 * (n - 1)) : 0;
  }

  async function pageOverview(main, args, alive) {
    const n = await loadNames(true);
    if (!alive()) return;
    const ov = n.overview;
    const root = h('div', { id: 'overview' });
    root.append(h('div', { class: 'toolbar' }, h('h1', { class: 'grow' }, t('overview.title')),
      h('span', { class: 'muted', id: 'overview-updated' }, t('common.updated', { time: fmtTime(Date.now()) })),
      h('button', { type: 'button', id: 'overview-refresh', onclick: () => route() }, t('common.refresh'))));
    let count = 0;
    for (const d of ov.districts || []) {
      for (const c of d.communities || []) {
        count++;
        root.append(communityMap(d, c));
      }
    }
    if (!count) root.append(h('div', { class: 'panel empty', 'data-testid': 'overview-empty' }, t('overview.empty')));
    main.replaceChildren(root);
    const timer = setInterval(async () => {
      try {
        await loadNames(true);
        if (alive()) route();
      } catch (e) { /* the next refresh retries; a 401 already went to login */ }
    }, 30000);
    cleanups.push(() => clearInterval(timer));
  }

  function communityMap(district, c) {
    const grids = (c.grids || []).slice().sort((a, b) => String(a.id).localeCompare(String(b.id), undefined, { numeric: true }));
    const gridInfo = new Map();
    grids.forEach((g, i) => gridInfo.set(String(g.id), { g, colour: GRID_COLOURS[i % GRID_COLOURS.length] }));
    const svg = s('svg', { class: 'map', viewBox: '0 0 1000 600', role: 'img', 'data-testid': 'community-map', 'data-community-id': c.id,
      'aria-label': `${district.name} ${c.name}` });
    svg.append(s('rect', { x: 0, y: 0, width: 1000, height: 600, fill: '#f9fbfc' }));
    for (const cp of c.compounds || []) {
      const status = cp.edge ? cp.edge.status : null;
      const g = s('g', { 'data-testid': 'map-compound', 'data-compound': cp.code, 'data-edge-status': status || 'unknown' });
      g.append(s('rect', { class: 'compound-rect', x: cp.x, y: cp.y, width: cp.w, height: cp.h, rx: 6 },
        s('title', {}, [cp.name, cp.property_company ? t('overview.property', { name: cp.property_company }) : null].filter(Boolean).join('\n'))));
      let label = cp.name;
      if (cp.edge && cp.edge.behind) label += ` · ${t('overview.behind')}`;
      g.append(s('text', { class: 'compound-label', x: cp.x + 8, y: cp.y + 18 }, label));
      for (const b of cp.buildings || []) {
        const gi = gridInfo.get(String(b.grid_id));
        const open = gi ? (gi.g.open_orders || 0) : 0;
        const tip = t('overview.building_tip', { building: b.name, grid: gi ? gi.g.name : t('common.unknown'), n: open });
        const bg = s('g', { 'data-testid': 'map-building', 'data-building-id': b.id, 'data-grid-id': b.grid_id, 'data-open-orders': open });
        const [fill, stroke] = gi ? gi.colour : ['#eeeeee', '#7f8c99'];
        bg.append(s('rect', { class: 'building-rect', x: b.x, y: b.y, width: b.w, height: b.h, fill, stroke, 'stroke-width': 4 }, s('title', {}, tip)));
        if (open > 0) {
          bg.append(s('rect', { x: b.x + 2, y: b.y + 2, width: Math.max(0, b.w - 4), height: Math.max(0, b.h - 4), fill: '#cf3b3b',
            'fill-opacity': ordersOpacity(open), 'pointer-events': 'none' }));
          const r = 9;
          bg.append(s('circle', { cx: b.x + b.w - r - 2, cy: b.y + r + 2, r, fill: '#a61b1b' }));
          bg.append(s('text', { class: 'order-count', x: b.x + b.w - r - 2, y: b.y + r + 6, 'text-anchor': 'middle' }, String(open)));
        }
        bg.append(s('text', { x: b.x + b.w / 2, y: b.y + b.h / 2 + 4, 'text-anchor': 'middle' }, b.name));
        g.append(bg);
      }
      for (const gate of cp.gates || []) {
        const colour = STATUS_COLOURS[status] || STATUS_COLOURS.null;
        const st = status === 'online' ? t('status.online') : status === 'offline' ? t('status.offline') : t('status.unknown');
        const gg = s('g', { 'data-testid': 'map-gate', 'data-gate': gate.name, 'data-status': status || 'unknown' });
        gg.append(s('circle', { cx: gate.x, cy: gate.y, r: 10, fill: colour, stroke: '#fff', 'stroke-width': 2 },
          s('title', {}, t('overview.gate_tip', { gate: gate.name, status: st }))));
        if (status === 'offline') gg.append(s('path', { d: `M${gate.x - 5} ${gate.y - 5}L${gate.x + 5} ${gate.y + 5}M${gate.x + 5} ${gate.y - 5}L${gate.x - 5} ${gate.y + 5}`, stroke: '#fff', 'stroke-width': 2 }));
        gg.append(s('text', { class: 'gate-label', x: gate.x + 14, y: gate.y + 4 }, gate.name));
        g.append(gg);
      }
      svg.append(g);
    }

    const legend = h('div', { class: 'legend panel', 'data-testid': 'map-legend' }, h('h3', {}, t('overview.legend')));
    legend.append(h('div', { class: 'muted' }, t('overview.grids')));
    for (const { g, colour } of gridInfo.values()) {
      const item = h('div', { class: 'item', 'data-testid': 'legend-grid', 'data-grid-id': g.id },
        h('span', { class: 'sw', style: `background:${colour[0]};border:2px solid ${colour[1]}` }), h('span', { class: 'grow' }, g.name),
        g.open_orders ? badge(t('overview.open', { n: g.open_orders }), 'bad') : badge(t('overview.open', { n: 0 }), 'ok'));
      if (g.overdue_orders) item.append(badge(t('overview.overdue', { n: g.overdue_orders }), 'warn'));
      legend.append(item);
    }
    const scale = h('div', { class: 'item' });
    for (const k of [1, 2, 3, 5]) scale.append(h('span', { class: 'sw', style: `background:rgba(207,59,59,${ordersOpacity(k)})` }));
    scale.append(h('span', {}, t('overview.orders_scale')));
    legend.append(scale);
    for (const [st, key] of [['online', 'overview.gate_online'], ['offline', 'overview.gate_offline'], ['null', 'overview.gate_unknown']]) {
      legend.append(h('div', { class: 'item' }, h('span', { class: 'dot', style: `background:${STATUS_COLOURS[st]}` }), t(key)));
    }
    return h('section', { class: 'community panel', 'data-testid': 'community' },
      h('h2', {}, `${district.name} · ${c.name}`),
      h('div', { class: 'map-wrap' }, svg, legend));
  }

  // ---- live feed -------------------------------------------------------------------------------

  function subjectText(sub) {
    if (!sub || !sub.type) return t('subject.none');
    if (sub.type === 'vehicle') return sub.plate || t('subject.vehicle');
    if (sub.type === 'camera') return sub.state ? `${t('subject.camera')} · ${sub.state}` : t('subject.camera');
    return word('subject', sub.type);
  }

  function decisionText(ev) {
    return [word('decision', ev.decision), word('reason', ev.reason)].filter(Boolean).join(' · ');
  }

  function eventRow(ev, fresh) {
    const orderCell = ev.order_id !== null && ev.order_id !== undefined
      ? h('a', { href: `#/orders/${encodeURIComponent(ev.order_id)}`, 'data-testid': 'event-order-link' }, `#${ev.order_id}`)
      : '';
    const cls = [fresh ? 'fresh' : null, ev.class ? 'class-' + ev.class : null].filter(Boolean).join(' ');
    return h('tr', { 'data-testid': 'event-row', 'data-event-id': ev.id, 'data-kind': ev.kind, 'data-compound': ev.compound,
      'data-order-id': ev.order_id === null || ev.order_id === undefined ? null : ev.order_id, class: cls || null },
    h('td', { title: ev.received_ms ? fmtTime(ev.received_ms) : null }, fmtTime(ev.occurred_at)),
    h('td', { title: ev.compound }, compoundName(ev.compound)),
    h('td', {}, ev.gate || ''),
    h('td', { 'data-testid': 'event-kind', title: ev.kind }, word('kind', ev.kind)),
    h('td', { 'data-testid': 'event-subject' }, subjectText(ev.subject)),
    h('td', {}, ev.decision === 'denied' ? badge(decisionText(ev), 'bad') : decisionText(ev)),
    h('td', {}, orderCell));
  }

  async function pageLive(main, args, alive) {
    const MAX_ROWS = 300;
    const status = h('span', { id: 'feed-status', class: 'badge warn feed-status', 'data-testid': 'feed-status', 'data-state': 'connecting' }, t('live.connecting'));
    const body = h('tbody', { id: 'feed-body' });
    const empty = h('div', { class: 'empty', id: 'feed-empty' }, t('live.empty'));
    const table = h('table', { id: 'feed-table', 'data-testid': 'feed-table' },
      h('thead', {}, h('tr', {}, ...['col.time', 'col.compound', 'col.gate', 'col.kind', 'col.subject', 'col.decision', 'col.order'].map((k) => h('th', {}, t(k))))),
      body);
    main.replaceChildren(h('div', { id: 'live' },
      h('div', { class: 'toolbar' }, h('h1', { class: 'grow' }, t('live.title')), status),
      h('div', { class: 'panel' }, table, empty)));

    const seen = new Set();
    let maxId = 0;
    function add(ev, fresh) {
      if (!ev || ev.id === undefined || seen.has(String(ev.id))) return;
      seen.add(String(ev.id));
      maxId = Math.max(maxId, Number(ev.id) || 0);
      const row = eventRow(ev, fresh);
      // Newest on top: keep the rows ordered by id, descending.
      let before = null;
      for (const r of body.children) {
        if (Number(r.dataset.eventId) < Number(ev.id)) { before = r; break; }
      }
      body.insertBefore(row, before);
      while (body.children.length > MAX_ROWS) body.lastElementChild.remove();
      empty.hidden = body.children.length > 0;
    }
    function setStatus(state, text, cls) {
      status.dataset.state = state;
      status.className = 'badge feed-status ' + cls;
      status.textContent = text;
    }

    try { await loadNames(false); } catch (e) { /* names are a nicety; the feed works without */ }
    if (!alive()) return;

    // The stream first, then the history: an event between the two shows up once (by id).
    const es = new EventSource('/api/events/stream', { withCredentials: true });
    cleanups.push(() => es.close());
    let wasBroken = false;
    const onMessage = (m) => {
      try { add(JSON.parse(m.data), true); } catch (e) { /* a malformed message is skipped */ }
    };
    es.addEventListener('event', onMessage);
    es.addEventListener('message', onMessage);
    es.addEventListener('open', async () => {
      setStatus('open', t('live.open'), 'ok');
      if (wasBroken) {
        // Only events after the (re)connection come on the stream: fill the gap from history.
        wasBroken = false;
        try {
          const res = await api('GET', `/events?after=${encodeURIComponent(maxId)}&limit=${MAX_ROWS}`);
          if (alive()) for (const ev of (res.events || []).slice().reverse()) add(ev, true);
        } catch (e) { /* shown by the banner if it was not a 401 */ }
      }
    });
    es.addEventListener('error', () => {
      wasBroken = true;
      setStatus(es.readyState === EventSource.CLOSED ? 'closed' : 'error', t('live.error'), 'bad');
      if (es.readyState === EventSource.CLOSED) {
        // The server refused the stream (a 401, most likely): find out through an ordinary call.
        api('GET', '/me').catch(() => {});
      }
    });

    const res = await api('GET', `/events?limit=100`);
    if (!alive()) return;
    for (const ev of (res.events || []).slice().reverse()) add(ev, false);
    empty.hidden = body.children.length > 0;
  }

  // ---- work orders -----------------------------------------------------------------------------

  const orderFilter = { state: 'open', grid: '' };

  function stateBadge(state) {
    const cls = state === 'open' ? 'bad' : state === 'acknowledged' ? 'warn' : 'ok';
    return badge(word('state', state), cls, { 'data-testid': 'order-state', 'data-state': state });
  }

  function orderActions(o, onChange) {
    const cell = h('span', { class: 'order-actions' });
    const msg = h('div', { class: 'form-error', 'data-testid': 'order-action-error' });
    if (o.state === 'open') {
      const ack = h('button', { type: 'button', class: 'primary', 'data-testid': 'order-ack', 'data-order-id': o.id }, t('orders.ack'));
      ack.addEventListener('click', async () => {
        ack.disabled = true;
        msg.textContent = '';
        try {
          const updated = await api('POST', `/orders/${encodeURIComponent(o.id)}/ack`, {});
          onChange(updated, t('orders.acked', { id: o.id }));
        } catch (e) {
          ack.disabled = false;
          msg.textContent = describe(e);
        }
      });
      cell.append(ack);
    }
    if (o.state !== 'resolved') {
      const resolve = h('button', { type: 'button', 'data-testid': 'order-resolve', 'data-order-id': o.id }, t('orders.resolve'));
      const note = h('textarea', { name: 'note', rows: 2, cols: 30, 'data-testid': 'resolve-note', placeholder: t('orders.resolve_note') });
      const form = h('form', { class: 'inline', 'data-testid': 'resolve-form', hidden: true },
        field('note', t('orders.resolve_note'), note),
        h('button', { type: 'submit', class: 'primary', 'data-testid': 'resolve-submit' }, t('orders.resolve_submit')),
        h('button', { type: 'button', onclick: () => { form.hidden = true; resolve.hidden = false; } }, t('common.cancel')));
      resolve.addEventListener('click', () => {
        form.hidden = false;
        resolve.hidden = true;
        note.focus();
      });
      form.addEventListener('submit', (ev) => {
        ev.preventDefault();
        if (!note.value.trim()) {
          clearFieldErrors(form);
          showFieldErrors(form, { note: t('orders.note_required') });
          return;
        }
        submitForm(form, msg, async () => {
          const updated = await api('POST', `/orders/${encodeURIComponent(o.id)}/resolve`, { note: note.value.trim() });
          onChange(updated, t('orders.resolved', { id: o.id }));
        });
      });
      cell.append(resolve, form);
    }
    cell.append(msg);
    return cell;
  }

  function orderRow(o, onChange) {
    return h('tr', { 'data-testid': 'order-row', 'data-order-id': o.id, 'data-state': o.state, 'data-kind': o.kind,
      'data-overdue': o.overdue ? 'true' : 'false', class: o.overdue ? 'overdue' : null },
    h('td', {}, h('a', { href: `#/orders/${encodeURIComponent(o.id)}`, 'data-testid': 'order-link' }, `#${o.id}`)),
    h('td', {}, o.grid || ''),
    h('td', { title: o.compound }, compoundName(o.compound)),
    h('td', {}, o.gate || ''),
    h('td', { title: o.kind }, word('kind', o.kind)),
    h('td', {}, stateBadge(o.state)),
    h('td', { title: o.assignee ? word('staff', o.assignee.role) : null }, o.assignee ? o.assignee.name : h('span', { class: 'muted' }, t('orders.unassigned'))),
    h('td', {}, fmtTime(o.opened_ms)),
    h('td', {}, fmtTime(o.due_ms), ' ', o.overdue ? badge(t('orders.overdue'), 'bad', { 'data-testid': 'order-overdue' }) : null),
    h('td', {}, fmtTime(o.last_event_ms)),
    h('td', { class: 'num' }, o.events ?? ''),
    h('td', { class: 'actions' }, orderActions(o, onChange)));
  }

  async function pageOrders(main, args, alive) {
    if (args.length) return pageOrder(main, args[0], alive);
    try { await loadNames(false); } catch (e) { /* the grid filter is then empty */ }
    if (!alive()) return;
    const stateSel = h('select', { id: 'orders-state', 'data-testid': 'orders-state' },
      ...[['', t('common.all')], ['open', word('state', 'open')], ['acknowledged', word('state', 'acknowledged')], ['resolved', word('state', 'resolved')]]
        .map(([v, l]) => h('option', { value: v, selected: orderFilter.state === v }, l)));
    const gridSel = h('select', { id: 'orders-grid', 'data-testid': 'orders-grid' },
      h('option', { value: '' }, t('common.all')),
      ...((names && names.gridList) || []).map((g) => h('option', { value: g.id, selected: String(orderFilter.grid) === String(g.id) }, g.name)));
    const note = h('div', { class: 'form-ok', id: 'orders-note', 'data-testid': 'orders-note', role: 'status' });
    const body = h('tbody', { id: 'orders-body' });
    const holder = h('div', { class: 'panel' }, loadingBox());
    main.replaceChildren(h('div', { id: 'orders' },
      h('div', { class: 'toolbar' }, h('h1', { class: 'grow' }, t('orders.title')),
        h('label', {}, t('orders.state'), ' ', stateSel), h('label', {}, t('orders.grid'), ' ', gridSel),
        h('button', { type: 'button', id: 'orders-refresh', onclick: () => load() }, t('common.refresh'))),
      note, holder));

    const onChange = (updated, text) => {
      note.textContent = text;
      const old = body.querySelector(`tr[data-order-id="${CSS.escape(String(updated.id))}"]`);
      const row = orderRow(updated, onChange);
      if (old) old.replaceWith(row); else body.prepend(row);
    };

    async function load() {
      holder.replaceChildren(loadingBox());
      const q = new URLSearchParams();
      if (orderFilter.state) q.set('state', orderFilter.state);
      if (orderFilter.grid) q.set('grid', orderFilter.grid);
      const qs = q.toString();
      let res;
      try {
        res = await api('GET', '/orders' + (qs ? '?' + qs : ''));
      } catch (e) {
        if (alive()) holder.replaceChildren(h('div', { class: 'form-error', 'data-testid': 'page-error' }, describe(e)));
        return;
      }
      if (!alive()) return;
      body.replaceChildren(...(res.orders || []).map((o) => orderRow(o, onChange)));
      const table = h('table', { id: 'orders-table', 'data-testid': 'orders-table' },
        h('thead', {}, h('tr', {}, ...['col.id', 'col.grid', 'col.compound', 'col.gate', 'col.kind', 'col.state', 'col.assignee',
          'col.opened', 'col.due', 'col.last_event', 'col.events', 'common.actions'].map((k) => h('th', {}, t(k))))), body);
      holder.replaceChildren(table);
      if (!body.children.length) holder.append(h('div', { class: 'empty', 'data-testid': 'orders-empty' }, t('orders.empty')));
    }
    stateSel.addEventListener('change', () => { orderFilter.state = stateSel.value; note.textContent = ''; load(); });
    gridSel.addEventListener('change', () => { orderFilter.grid = gridSel.value; note.textContent = ''; load(); });
    await load();
  }

  async function pageOrder(main, id, alive) {
    try { await loadNames(false); } catch (e) { /* names are a nicety */ }
    const o = await api('GET', `/orders/${encodeURIComponent(id)}`);
    if (!alive()) return;
    const note = h('div', { class: 'form-ok', id: 'order-note', 'data-testid': 'orders-note', role: 'status' });
    const dl = h('dl', { class: 'detail-grid' });
    const put = (k, v) => dl.append(h('dt', {}, t(k)), h('dd', {}, v));
    put('col.state', stateBadge(o.state));
    put('col.grid', o.grid || '');
    put('col.compound', compoundName(o.compound));
    put('col.gate', o.gate || '');
    put('col.kind', word('kind', o.kind));
    put('col.assignee', o.assignee ? `${o.assignee.name}（${word('staff', o.assignee.role)}）` : t('orders.unassigned'));
    put('col.opened', fmtTime(o.opened_ms));
    put('col.due', [fmtTime(o.due_ms), ' ', o.overdue ? badge(t('orders.overdue'), 'bad', { 'data-testid': 'order-overdue' }) : null]);
    put('col.last_event', fmtTime(o.last_event_ms));
    put('col.events', String(o.events ?? ''));
    const history = h('table', { class: 'history', 'data-testid': 'order-history' },
      h('thead', {}, h('tr', {}, ...['col.at', 'col.actor', 'col.action', 'col.note'].map((k) => h('th', {}, t(k))))),
      h('tbody', {}, ...(o.history || []).map((x) => h('tr', { 'data-testid': 'history-row', 'data-action': x.action },
        h('td', {}, fmtTime(x.at_ms)), h('td', {}, word('actor', x.actor)), h('td', {}, word('action', x.action)), h('td', {}, x.note || '')))));
    main.replaceChildren(h('div', { id: 'order-detail', 'data-testid': 'order-detail', 'data-order-id': o.id, 'data-state': o.state },
      h('div', { class: 'toolbar' }, h('a', { href: '#/orders' }, '← ' + t('common.back')),
        h('h1', { class: 'grow' }, t('orders.detail', { id: o.id }))),
      note,
      h('div', { class: 'panel' }, dl, h('div', { class: 'row', style: 'margin-top:10px' },
        orderActions(o, (updated, text) => { sessionNote = text; route(); }))),
      h('div', { class: 'panel' }, h('h2', {}, t('orders.history')), history)));
    if (sessionNote) { note.textContent = sessionNote; sessionNote = ''; }
  }
  let sessionNote = '';

  // ---- register --------------------------------------------------------------------------------

  const TABS = ['households', 'residents', 'vehicles', 'passes'];

  function table(id, cols, rows) {
    const t0 = h('table', { id, 'data-testid': id },
      h('thead', {}, h('tr', {}, ...cols.map((c) => h('th', { class: c.num ? 'num' : null }, t(c.label))))),
      h('tbody', {}, ...rows));
    return rows.length ? t0 : h('div', {}, t0, h('div', { class: 'empty' }, t('common.empty')));
  }

  function yesNo(v) { return v ? t('common.yes') : t('common.no'); }

  /** A two-click button: the first click asks, the second does it. */
  function confirmButton(label, testid, action) {
    const b = h('button', { type: 'button', class: 'danger', 'data-testid': testid }, label);
    let armed = false;
    b.addEventListener('click', async () => {
      if (!armed) {
        armed = true;
        b.textContent = t('common.confirm_again');
        setTimeout(() => { armed = false; b.textContent = label; }, 4000);
        return;
      }
      b.disabled = true;
      try { await action(); } catch (e) { showError(describe(e)); b.disabled = false; }
    });
    return b;
  }

  function importPanel(kind, reload) {
    const file = h('input', { type: 'file', accept: '.csv,text/csv', id: `import-${kind}-file`, 'data-testid': 'import-file', name: 'file' });
    const out = h('div', { id: `import-${kind}-result`, 'data-testid': 'import-result' });
    const form = h('form', { class: 'inline', id: `import-${kind}`, 'data-testid': 'import-form' },
      h('label', {}, t('register.import'), file),
      h('button', { type: 'submit', 'data-testid': 'import-submit' }, t('register.import_submit')),
      h('a', { href: `/api/export/${kind}`, download: `${kind}.csv`, 'data-testid': 'export-link', id: `export-${kind}` }, t('register.export')));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      out.replaceChildren();
      const f = file.files && file.files[0];
      if (!f) {
        out.replaceChildren(h('div', { class: 'form-error' }, t('register.import_choose')));
        return;
      }
      const btn = form.querySelector('button[type=submit]');
      btn.disabled = true;
      try {
        const text = await f.text();
        const res = await api('POST', `/import/${kind}`, text, { csv: true });
        await reload();
        // The tab was redrawn: the outcome goes into the new panel.
        const slot = document.getElementById(`import-${kind}-result`) || out;
        slot.replaceChildren(h('div', { class: 'form-ok', 'data-testid': 'import-ok' }, t('register.imported', { n: res.applied })));
      } catch (e) {
        const parts = [h('div', { class: 'form-error', 'data-testid': 'import-error' }, e.rows ? `${t('register.import_failed')} ${e.message || ''}` : describe(e))];
        if (e.rows && e.rows.length) {
          parts.push(h('table', { class: 'errors-table', 'data-testid': 'import-errors' },
            h('thead', {}, h('tr', {}, h('th', {}, t('col.row')), h('th', {}, t('col.field')), h('th', {}, t('col.message')))),
            h('tbody', {}, ...e.rows.map((r) => h('tr', { 'data-testid': 'import-error-row', 'data-row': r.row, 'data-field': r.field },
              h('td', { class: 'num' }, r.row), h('td', {}, r.field || ''), h('td', {}, r.message || ''))))));
        }
        out.replaceChildren(...parts);
      } finally {
        btn.disabled = false;
      }
    });
    return h('div', { class: 'panel' }, form, out);
  }

  async function pageRegister(main, args, alive) {
    const tab = TABS.includes(args[0]) ? args[0] : 'households';
    const tabs = h('nav', { class: 'tabs', id: 'register-tabs' }, ...TABS.map((k) =>
      h('a', { href: `#/register/${k}`, class: k === tab ? 'active' : null, 'data-testid': `tab-${k}`, id: `tab-${k}` }, t('tab.' + k))));
    const content = h('div', { id: `register-${tab}`, 'data-testid': 'register-content' }, loadingBox());
    main.replaceChildren(h('div', { id: 'register' }, h('h1', {}, t('register.title')), tabs, content));
    const reload = async () => {
      if (!alive()) return;
      try { await REGISTER_TABS[tab](content, alive, reload); } catch (e) { showError(describe(e)); }
    };
    await REGISTER_TABS[tab](content, alive, reload);
  }

  const REGISTER_TABS = {
    async households(content, alive, reload) {
      const res = await api('GET', '/households');
      try { await loadNames(false); } catch (e) { /* the compound list is then free text */ }
      if (!alive()) return;
      const rows = (res.households || []).map((x) => h('tr', { 'data-testid': 'household-row', 'data-ref': x.ref },
        h('td', {}, x.ref), h('td', {}, compoundName(x.compound)), h('td', {}, x.building), h('td', {}, x.unit), h('td', {}, x.room),
        h('td', {}, x.phone || ''), h('td', {}, (names && names.grids.get(String(x.grid_id))) || x.grid_id || ''), h('td', { class: 'num' }, x.residents ?? '')));
      const out = h('div', { 'data-testid': 'household-form-result' });
      const compounds = (names && names.compoundList) || [];
      const ref = h('input', { id: 'household-ref', required: true, size: 8 });
      const compound = compounds.length
        ? h('select', { id: 'household-compound' }, ...compounds.map((c) => h('option', { value: c.code }, `${c.name} (${c.code})`)))
        : h('input', { id: 'household-compound', required: true, size: 10 });
      // The chosen compound's buildings are offered as suggestions; the server checks the unit.
      const buildings = h('datalist', { id: 'household-buildings' });
      const offerBuildings = () => {
        const cp = compounds.find((c) => c.code === compound.value);
        buildings.replaceChildren(...((cp && cp.buildings) || []).map((b) => h('option', { value: b.name })));
      };
      offerBuildings();
      compound.addEventListener('change', offerBuildings);
      const building = h('input', { id: 'household-building', required: true, size: 8, list: 'household-buildings', placeholder: '1号楼' });
      const unit = h('input', { id: 'household-unit', required: true, size: 6, placeholder: '1单元' });
      const room = h('input', { id: 'household-room', required: true, size: 6, placeholder: '101' });
      const phone = h('input', { id: 'household-phone', type: 'tel', size: 12 });
      const form = h('form', { class: 'inline', id: 'household-form', 'data-testid': 'household-form' },
        field('ref', t('field.household'), ref), field('compound', t('field.compound'), compound),
        field('building', t('field.building'), building), field('unit', t('field.unit'), unit),
        field('room', t('field.room'), room), field('phone', t('field.phone'), phone), buildings,
        h('button', { type: 'submit', class: 'primary', 'data-testid': 'household-submit' }, t('register.add_household')));
      form.addEventListener('submit', (ev) => {
        ev.preventDefault();
        submitForm(form, out, async () => {
          const body = { ref: ref.value.trim(), compound: compound.value.trim(), building: building.value.trim(),
            unit: unit.value.trim(), room: room.value.trim() };
          if (phone.value.trim()) body.phone = phone.value.trim();
          await api('POST', '/households', body);
          await reload();
          const slot = $('[data-testid="household-form-result"]');
          if (slot) slot.replaceChildren(h('div', { class: 'form-ok', 'data-testid': 'household-added' }, t('register.added')));
        });
      });
      content.replaceChildren(
        h('div', { class: 'panel add-panel' }, h('h3', {}, t('register.add_household')), form, out),
        importPanel('households', reload),
        h('div', { class: 'panel' }, table('households-table',
        [{ label: 'col.ref' }, { label: 'col.compound' }, { label: 'col.building' }, { label: 'col.unit' }, { label: 'col.room' },
          { label: 'col.phone' }, { label: 'col.grid' }, { label: 'col.residents', num: true }], rows)));
    },

    async residents(content, alive, reload) {
      const res = await api('GET', '/residents');
      if (!alive()) return;
      const rows = (res.residents || []).map((x) => h('tr', { 'data-testid': 'resident-row', 'data-ref': x.ref, 'data-status': x.status },
        h('td', {}, x.ref), h('td', {}, x.household), h('td', {}, x.name || ''), h('td', {}, x.phone || ''),
        h('td', {}, badge(word('rstatus', x.status), x.status === 'active' ? 'ok' : 'off')),
        h('td', {}, x.face_enabled ? badge(t('register.face_on'), 'info') : t('register.face_off')),
        h('td', {}, fmtDay(x.consent_at)), h('td', {}, word('consent', x.consent_method)), h('td', {}, x.guardian || ''),
        h('td', { class: 'actions' }, x.status === 'erased' ? '' : confirmButton(t('register.erase'), 'resident-erase', async () => {
          await api('POST', `/residents/${encodeURIComponent(x.ref)}/erase`, {});
          await reload();
          showNotice(t('register.erase_started'));
        }))));
      const out = h('div', { 'data-testid': 'resident-form-result' });
      const ref = h('input', { id: 'resident-ref', required: true, size: 8 });
      const household = h('input', { id: 'resident-household', required: true, size: 8 });
      const name = h('input', { id: 'resident-name', required: true, size: 8 });
      const phone = h('input', { id: 'resident-phone', type: 'tel', size: 12 });
      const status = h('select', { id: 'resident-status' },
        ...['active', 'suspended'].map((v) => h('option', { value: v }, word('rstatus', v))));
      const face = h('input', { id: 'resident-face', type: 'checkbox', 'data-testid': 'resident-face' });
      // The consent is asked for only with face entry. The inputs are not `required`: the
      // server's rule decides, and its 400 names the field that is missing.
      const consentAt = h('input', { id: 'resident-consent-at', type: 'date' });
      const method = h('select', { id: 'resident-consent-method' }, h('option', { value: '' }, '—'),
        ...['written', 'app', 'guardian'].map((v) => h('option', { value: v }, word('consent', v))));
      const guardian = h('input', { id: 'resident-guardian', size: 8 });
      const hint = h('div', { class: 'hint muted', 'data-testid': 'resident-consent-hint' }, t('register.consent_hint'));
      const consentAtField = field('consent_at', t('field.consent_at'), consentAt);
      const methodField = field('consent_method', t('field.consent_method'), method);
      const guardianField = field('guardian', t('field.guardian'), guardian);
      const showConsent = () => {
        hint.hidden = consentAtField.hidden = methodField.hidden = !face.checked;
        guardianField.hidden = !face.checked || method.value !== 'guardian';
      };
      showConsent();
      face.addEventListener('change', showConsent);
      method.addEventListener('change', showConsent);
      const form = h('form', { class: 'inline', id: 'resident-form', 'data-testid': 'resident-form' },
        field('ref', t('field.resident_ref'), ref), field('household', t('field.household'), household),
        field('name', t('field.name'), name), field('phone', t('field.phone'), phone),
        field('status', t('field.status'), status), field('face_enabled', t('field.face_enabled'), face),
        hint, consentAtField, methodField, guardianField,
        h('button', { type: 'submit', class: 'primary', 'data-testid': 'resident-submit' }, t('register.add_resident')));
      form.addEventListener('submit', (ev) => {
        ev.preventDefault();
        submitForm(form, out, async () => {
          const body = { ref: ref.value.trim(), household: household.value.trim(), name: name.value.trim(),
            status: status.value, face_enabled: face.checked };
          if (phone.value.trim()) body.phone = phone.value.trim();
          if (face.checked) {
            if (consentAt.value) body.consent_at = consentAt.value;
            if (method.value) body.consent_method = method.value;
            if (method.value === 'guardian' && guardian.value.trim()) body.guardian = guardian.value.trim();
          }
          await api('POST', '/residents', body);
          await reload();
          const slot = $('[data-testid="resident-form-result"]');
          if (slot) slot.replaceChildren(h('div', { class: 'form-ok', 'data-testid': 'resident-added' }, t('register.added')));
        });
      });
      content.replaceChildren(
        h('div', { class: 'panel add-panel' }, h('h3', {}, t('register.add_resident')), form, out),
        importPanel('residents', reload),
        h('div', { class: 'panel' }, table('residents-table',
        [{ label: 'col.ref' }, { label: 'col.household' }, { label: 'col.name' }, { label: 'col.phone' }, { label: 'col.status' },
          { label: 'col.face' }, { label: 'col.consent_at' }, { label: 'col.consent_method' }, { label: 'col.guardian' },
          { label: 'common.actions' }], rows)));
    },

    async vehicles(content, alive, reload) {
      const res = await api('GET', '/vehicles');
      if (!alive()) return;
      const rows = (res.vehicles || []).map((x) => h('tr', { 'data-testid': 'vehicle-row', 'data-plate': x.plate },
        h('td', {}, x.plate), h('td', {}, x.household), h('td', {}, word('color', x.color)),
        h('td', {}, x.blocked ? badge(t('common.yes'), 'bad') : t('common.no')),
        h('td', { class: 'actions' }, confirmButton(t('common.delete'), 'vehicle-delete', async () => {
          await api('DELETE', `/vehicles/${encodeURIComponent(x.plate)}`);
          reload();
        }))));
      const out = h('div', { 'data-testid': 'vehicle-form-result' });
      const plate = h('input', { id: 'vehicle-plate', required: true, size: 10, placeholder: '冀G12345' });
      const household = h('input', { id: 'vehicle-household', required: true, size: 8 });
      const color = h('select', { id: 'vehicle-color' }, h('option', { value: '' }, '—'),
        ...['blue', 'yellow', 'green', 'white', 'black'].map((c) => h('option', { value: c }, word('color', c))));
      const blocked = h('input', { id: 'vehicle-blocked', type: 'checkbox' });
      const form = h('form', { class: 'inline', id: 'vehicle-form', 'data-testid': 'vehicle-form' },
        field('plate', t('field.plate'), plate), field('household', t('field.household'), household),
        field('color', t('field.color'), color), field('blocked', t('field.blocked'), blocked),
        h('button', { type: 'submit', class: 'primary', 'data-testid': 'vehicle-submit' }, t('register.add_vehicle')));
      form.addEventListener('submit', (ev) => {
        ev.preventDefault();
        submitForm(form, out, async () => {
          const body = { plate: plate.value.trim(), household: household.value.trim(), blocked: blocked.checked };
          if (color.value) body.color = color.value;
          await api('POST', '/vehicles', body);
          await reload();
          const slot = $('[data-testid="vehicle-form-result"]');
          if (slot) slot.replaceChildren(h('div', { class: 'form-ok', 'data-testid': 'vehicle-added' }, t('register.added')));
        });
      });
      content.replaceChildren(
        h('div', { class: 'panel add-panel' }, h('h3', {}, t('register.add_vehicle')), form, out),
        importPanel('vehicles', reload),
        h('div', { class: 'panel' }, table('vehicles-table',
          [{ label: 'col.plate' }, { label: 'col.household' }, { label: 'col.color' }, { label: 'col.blocked' }, { label: 'common.actions' }], rows)));
    },

    async passes(content, alive, reload) {
      const res = await api('GET', '/passes');
      try { await loadNames(false); } catch (e) { /* the compound list is then free text */ }
      if (!alive()) return;
      const stCls = { active: 'ok', pending: 'info', expired: 'off', revoked: 'off' };
      const rows = (res.passes || []).map((x) => h('tr', { 'data-testid': 'pass-row', 'data-pass-id': x.id, 'data-state': x.state },
        h('td', {}, x.id), h('td', {}, compoundName(x.compound)), h('td', {}, x.household), h('td', {}, word('pass', x.kind)),
        h('td', {}, x.plate || ''), h('td', {}, x.visitor || ''), h('td', {}, fmtTime(x.valid_from_ms)), h('td', {}, fmtTime(x.valid_until_ms)),
        h('td', {}, badge(word('pstate', x.state), stCls[x.state] || '')),
        h('td', { class: 'actions' }, x.state === 'revoked' || x.state === 'expired' ? '' : confirmButton(t('register.revoke'), 'pass-revoke', async () => {
          await api('DELETE', `/passes/${encodeURIComponent(x.id)}`);
          reload();
        }))));
      const out = h('div', { 'data-testid': 'pass-form-result' });
      const compounds = (names && names.compoundList) || [];
      const compound = compounds.length
        ? h('select', { id: 'pass-compound' }, ...compounds.map((c) => h('option', { value: c.code }, `${c.name} (${c.code})`)))
        : h('input', { id: 'pass-compound', required: true, size: 10 });
      const household = h('input', { id: 'pass-household', required: true, size: 8 });
      const kind = h('select', { id: 'pass-kind' }, h('option', { value: 'plate' }, word('pass', 'plate')), h('option', { value: 'qr' }, word('pass', 'qr')));
      const plate = h('input', { id: 'pass-plate', size: 10, placeholder: '冀G12345' });
      const plateField = field('plate', t('field.plate'), plate);
      const visitor = h('input', { id: 'pass-visitor', required: true, size: 10 });
      const now = Date.now();
      const from = h('input', { id: 'pass-from', type: 'datetime-local', value: toLocalInput(now) });
      const until = h('input', { id: 'pass-until', type: 'datetime-local', value: toLocalInput(now + 4 * 3600 * 1000) });
      kind.addEventListener('change', () => { plateField.hidden = kind.value !== 'plate'; });
      const form = h('form', { class: 'inline', id: 'pass-form', 'data-testid': 'pass-form' },
        field('compound', t('field.compound'), compound), field('household', t('field.household'), household),
        field('kind', t('field.kind'), kind), plateField, field('visitor', t('field.visitor'), visitor),
        field('valid_from_ms', t('field.valid_from_ms'), from), field('valid_until_ms', t('field.valid_until_ms'), until),
        h('button', { type: 'submit', class: 'primary', 'data-testid': 'pass-submit' }, t('register.issue_pass')));
      form.addEventListener('submit', (ev) => {
        ev.preventDefault();
        submitForm(form, out, async () => {
          const body = { compound: compound.value.trim(), household: household.value.trim(), kind: kind.value, visitor: visitor.value.trim(),
            valid_until_ms: fromLocalInput(until.value) };
          const f = fromLocalInput(from.value);
          if (f !== null) body.valid_from_ms = f;
          if (kind.value === 'plate') body.plate = plate.value.trim();
          const p = await api('POST', '/passes', body);
          await reload();
          // The QR token is shown once, here, in the redrawn tab.
          const slot = $('[data-testid="pass-form-result"]');
          if (slot) {
            slot.replaceChildren(h('div', { class: 'form-ok' }, t('register.added'),
              p && p.token ? [' ', t('register.token'), ' ', h('span', { class: 'token', 'data-testid': 'pass-token' }, p.token)] : null));
          }
        });
      });
      content.replaceChildren(
        h('div', { class: 'panel add-panel' }, h('h3', {}, t('register.issue_pass')), form, out),
        h('div', { class: 'panel' }, table('passes-table',
          [{ label: 'col.id' }, { label: 'col.compound' }, { label: 'col.household' }, { label: 'col.pass_kind' }, { label: 'col.plate' },
            { label: 'col.visitor' }, { label: 'col.valid_from' }, { label: 'col.valid_until' }, { label: 'col.state' }, { label: 'common.actions' }], rows)));
    },
  };

  // ---- edge health -----------------------------------------------------------------------------

  function statusBadge(st) {
    if (st === 'online') return badge(t('status.online'), 'ok', { 'data-testid': 'edge-status', 'data-status': 'online' });
    if (st === 'offline') return badge(t('status.offline'), 'bad', { 'data-testid': 'edge-status', 'data-status': 'offline' });
    return badge(t('status.unknown'), 'off', { 'data-testid': 'edge-status', 'data-status': 'unknown' });
  }

  async function pageEdges(main, args, alive) {
    const [er, xr] = await Promise.all([api('GET', '/edges'), api('GET', '/erasures')]);
    try { await loadNames(false); } catch (e) { /* names are a nicety */ }
    if (!alive()) return;
    const rows = (er.edges || []).map((x) => {
      const gap = (x.latest_version ?? 0) - (x.register_version ?? 0);
      return h('tr', { 'data-testid': 'edge-row', 'data-compound': x.compound, 'data-status': x.status || 'unknown' },
        h('td', { title: x.compound }, x.name || compoundName(x.compound)),
        h('td', {}, statusBadge(x.status)),
        h('td', { title: fmtTime(x.last_seen_ms) }, fmtAgo(x.last_seen_ms)),
        h('td', { class: 'num' }, Array.isArray(x.cameras) ? x.cameras.length : (x.cameras ?? '')),
        h('td', { class: 'num' }, x.outbox_depth ?? ''),
        h('td', {}, `${x.register_version ?? '—'} / ${x.latest_version ?? '—'} `,
          x.behind ? badge(t('edges.behind', { n: gap > 0 ? gap : '' }).trim(), 'warn', { 'data-testid': 'edge-behind' }) : null),
        h('td', { class: 'num' }, x.duplicates ?? ''),
        h('td', { class: 'num' }, x.contiguous_seq ?? ''));
    });
    const erasures = (xr.erasures || []).map((x) => h('tr', { 'data-testid': 'erasure-row', 'data-pending': x.pending ? 'true' : 'false' },
      h('td', {}, x.resident_ref), h('td', {}, fmtTime(x.requested_ms)),
      h('td', {}, x.pending ? badge(t('edges.pending'), 'warn') : badge(t('edges.done'), 'ok')),
      h('td', {}, ...(x.targets || []).map((tg) => h('div', {}, `${compoundName(tg.compound)} v${tg.version ?? ''}: `,
        tg.confirmed_ms ? badge(`${t('edges.confirmed')} ${fmtTime(tg.confirmed_ms)}`, 'ok') : badge(t('edges.waiting'), 'warn'))))));
    // Events naming a gate or camera the structure lacks: stored, and shown here once per name.
    const warnings = (er.edges || []).flatMap((x) => (x.warnings || []).map((w) => h('li', { 'data-testid': 'edge-warning' },
      badge(t('edges.warnings'), 'warn'), ' ',
      t('edges.warning', { compound: x.name || compoundName(x.compound), what: w.what, n: w.events, first: fmtTime(w.first_ms) }))));
    main.replaceChildren(h('div', { id: 'edges' },
      h('div', { class: 'toolbar' }, h('h1', { class: 'grow' }, t('edges.title')),
        h('span', { class: 'muted' }, t('common.updated', { time: fmtTime(Date.now()) })),
        h('button', { type: 'button', id: 'edges-refresh', onclick: () => route() }, t('common.refresh'))),
      h('div', { class: 'panel' }, rows.length ? table('edges-table', [{ label: 'col.edge' }, { label: 'col.status' }, { label: 'col.last_seen' },
        { label: 'col.cameras', num: true }, { label: 'col.outbox', num: true }, { label: 'col.version' }, { label: 'col.duplicates', num: true },
        { label: 'col.contiguous', num: true }], rows) : h('div', { class: 'empty' }, t('edges.empty'))),
      warnings.length ? h('div', { class: 'panel' }, h('ul', { class: 'warnings' }, ...warnings)) : null,
      h('h2', {}, t('edges.erasures')),
      h('div', { class: 'panel' }, erasures.length ? table('erasures-table', [{ label: 'col.resident' }, { label: 'col.requested' },
        { label: 'col.pending' }, { label: 'col.targets' }], erasures) : h('div', { class: 'empty' }, t('edges.erasures_empty')))));
    const timer = setInterval(() => { if (alive()) route(); }, 15000);
    cleanups.push(() => clearInterval(timer));
  }

  // ---- statistics (inline SVG charts) ----------------------------------------------------------

  /** A round step for an axis that reaches `max` in about `n` steps. */
  function niceStep(max, n) {
    if (max <= 0) return 1;
    const raw = max / n;
    const p = Math.pow(10, Math.floor(Math.log10(raw)));
    const m = raw / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
  }

  const ENTRY_KINDS = [['resident', '#2e7dd1'], ['visitor', '#2e9e5b'], ['unknown', '#d98b1e']];

  function entriesChart(hours) {
    const W = 1000, H = 320, L = 48, R = 12, T = 16, B = 44;
    const svg = s('svg', { class: 'chart', viewBox: `0 0 ${W} ${H}`, role: 'img', 'data-testid': 'chart-entries', 'aria-label': t('stats.entries') });
    const totals = hours.map((x) => ENTRY_KINDS.reduce((a, [k]) => a + (Number(x[k]) || 0), 0));
    const max = Math.max(1, ...totals);
    const step = niceStep(max, 5);
    const top = Math.ceil(max / step) * step;
    const y = (v) => T + (H - T - B) * (1 - v / top);
    for (let v = 0; v <= top + 1e-9; v += step) {
      svg.append(s('line', { class: 'gridline', x1: L, x2: W - R, y1: y(v), y2: y(v) }));
      svg.append(s('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end' }, String(Math.round(v))));
    }
    const n = Math.max(1, hours.length);
    const slot = (W - L - R) / n;
    const bw = Math.max(2, slot * 0.7);
    const labelEvery = Math.ceil(n / 24) * (n > 24 ? 1 : 2) || 1;
    hours.forEach((x, i) => {
      const x0 = L + i * slot + (slot - bw) / 2;
      let acc = 0;
      const g = s('g', { 'data-testid': 'chart-entries-bar', 'data-hour-ms': x.hour_ms });
      for (const [k, colour] of ENTRY_KINDS) {
        const v = Number(x[k]) || 0;
        if (v > 0) {
          g.append(s('rect', { x: x0, y: y(acc + v), width: bw, height: y(acc) - y(acc + v), fill: colour },
            s('title', {}, `${fmtTime(x.hour_ms).slice(0, 13)}:00 ${t('entry.' + k)} ${v}`)));
        }
        acc += v;
      }
      svg.append(g);
      if (i % labelEvery === 0) {
        const d = new Date(x.hour_ms);
        svg.append(s('text', { x: x0 + bw / 2, y: H - B + 14, 'text-anchor': 'middle' }, `${pad(d.getHours())}:00`));
        if (d.getHours() === 0 || i === 0) svg.append(s('text', { x: x0 + bw / 2, y: H - B + 28, 'text-anchor': 'middle' }, `${d.getMonth() + 1}/${d.getDate()}`));
      }
    });
    svg.append(s('line', { class: 'axis', x1: L, x2: W - R, y1: y(0), y2: y(0) }));
    let lx = L;
    for (const [k, colour] of ENTRY_KINDS) {
      svg.append(s('rect', { x: lx, y: H - 12, width: 10, height: 10, fill: colour }));
      svg.append(s('text', { x: lx + 14, y: H - 3, class: 'bar-label' }, t('entry.' + k)));
      lx += 90;
    }
    svg.append(s('text', { x: W - R, y: H - 3, 'text-anchor': 'end', class: 'bar-label' }, t('stats.total', { n: totals.reduce((a, b) => a + b, 0) })));
    return svg;
  }

  function anomaliesChart(grids) {
    const rowH = 26, L = 150, R = 50, T = 10;
    const W = 1000, H = Math.max(60, T * 2 + rowH * grids.length);
    const svg = s('svg', { class: 'chart', viewBox: `0 0 ${W} ${H}`, role: 'img', 'data-testid': 'chart-anomalies', 'aria-label': t('stats.anomalies') });
    const max = Math.max(1, ...grids.map((g) => Number(g.count) || 0));
    grids.forEach((g, i) => {
      const y0 = T + i * rowH;
      const w = (W - L - R) * (Number(g.count) || 0) / max;
      svg.append(s('text', { x: L - 8, y: y0 + rowH / 2 + 4, 'text-anchor': 'end', class: 'bar-label' }, g.grid || String(g.grid_id)));
      svg.append(s('rect', { x: L, y: y0 + 4, width: Math.max(w, 0), height: rowH - 8, fill: '#cf3b3b', 'data-testid': 'chart-anomalies-bar', 'data-grid-id': g.grid_id },
        s('title', {}, `${g.grid}: ${g.count}`)));
      svg.append(s('text', { x: L + w + 6, y: y0 + rowH / 2 + 4, class: 'bar-label' }, String(g.count)));
    });
    svg.append(s('line', { class: 'axis', x1: L, x2: L, y1: T, y2: H - T }));
    return svg;
  }

  let statsHours = 24;

  async function pageStats(main, args, alive) {
    const [entries, anomalies] = await Promise.all([api('GET', `/stats/entries?hours=${statsHours}`), api('GET', '/stats/anomalies')]);
    if (!alive()) return;
    const sel = h('select', { id: 'stats-hours', 'data-testid': 'stats-hours' },
      ...[[24, 'stats.h24'], [48, 'stats.h48'], [168, 'stats.h168']].map(([v, k]) => h('option', { value: v, selected: v === statsHours }, t(k))));
    sel.addEventListener('change', () => { statsHours = Number(sel.value); route(); });
    const hours = (entries.hours || []).slice().sort((a, b) => a.hour_ms - b.hour_ms);
    const grids = (anomalies.grids || []).slice().sort((a, b) => (b.count || 0) - (a.count || 0));
    main.replaceChildren(h('div', { id: 'stats' },
      h('div', { class: 'toolbar' }, h('h1', { class: 'grow' }, t('stats.title')), h('label', {}, t('stats.hours'), ' ', sel)),
      h('div', { class: 'panel' }, h('h2', {}, t('stats.entries')), hours.length ? entriesChart(hours) : h('div', { class: 'empty' }, t('common.empty'))),
      h('div', { class: 'panel' }, h('h2', {}, t('stats.anomalies')), grids.length ? anomaliesChart(grids) : h('div', { class: 'empty' }, t('common.empty')))));
  }

  // ---- start -----------------------------------------------------------------------------------

  function start() {
    applyStaticStrings();
    $('#lang-toggle').addEventListener('click', () => {
      lang = lang === 'zh' ? 'en' : 'zh';
      localStorage.setItem('menwei.lang', lang);
      applyStaticStrings();
      updateChrome();
      route();
    });
    $('#logout').addEventListener('click', async () => {
      try { await api('POST', '/logout', {}, { noRedirect: true }); } catch (e) { /* logged out here anyway */ }
      afterLogin = '#/overview';
      loggedOut();
    });
    $('#error-close').addEventListener('click', clearError);
    window.addEventListener('hashchange', route);
    route();
  }

  start();
})();
